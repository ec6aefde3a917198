"""What the baremetal driver knows of hwmgr's nodes: one cached node list for the
region, fresh reads of one node, and which instance each node holds.

hwmgr knows nothing of instances, so each deploy's image URL is tagged with a fragment
``#stockyard-instance=<uuid>``: fragments are never sent over HTTP, and hwmgr records
the URL on the task, so which instance a node holds survives a restart of the agent
(read back from the node's latest install task).
"""

from __future__ import annotations

import asyncio
import math
import time

from stockyard.compute.drivers.baremetal_client import HwmgrCallError, HwmgrClient, Json
from stockyard.compute.drivers.base import DriverError

INSTANCE_MARK = "stockyard-instance="


def mark_url(url: str, instance_uuid: str) -> str:
    """``url`` tagged with the instance it installs (a fragment: never sent over HTTP)."""
    return f"{url.partition('#')[0]}#{INSTANCE_MARK}{instance_uuid}"


def instance_of(url: str | None) -> str | None:
    """The instance uuid a deploy URL was tagged with, if any."""
    fragment = (url or "").partition("#")[2]
    return fragment.removeprefix(INSTANCE_MARK) if fragment.startswith(INSTANCE_MARK) else None


class NodeBook:
    """hwmgr's nodes of one region by name, and the instance on each."""

    def __init__(self, client: HwmgrClient, region: str | None, ttl: float) -> None:
        self.client = client
        self.region = region
        self.ttl = ttl
        self._nodes: dict[str, Json] = {}
        self._at = -math.inf
        self._refreshing: asyncio.Task[None] | None = None
        # node name -> instance uuid on it; a missing key means "not read yet".
        self._owner: dict[str, str | None] = {}

    async def nodes(self, max_age: float | None = None) -> dict[str, Json]:
        """The node list, at most ``max_age`` (default ``ttl``) s old."""
        ttl = self.ttl if max_age is None else max_age
        if time.monotonic() - self._at > ttl:
            if self._refreshing is None or self._refreshing.done():
                # One request in flight, however many agents report at once.
                self._refreshing = asyncio.create_task(self._fetch())
            await asyncio.shield(self._refreshing)
        return self._nodes

    async def _fetch(self) -> None:
        nodes = await self.client.nodes(region=self.region or "")
        self._nodes = {str(n["name"]): n for n in nodes}
        self._at = time.monotonic()

    async def fresh(self, name: str) -> Json:
        """A fresh view of node ``name`` (also kept in the list)."""
        node = self._nodes.get(name) or (await self.nodes(max_age=0)).get(name)
        if node is None:
            raise DriverError(f"Baremetal node {name} is not known to the hardware manager.")
        try:
            fresh = await self.client.node(str(node["uuid"]))
        except HwmgrCallError as exc:
            if exc.status == 404:
                self._nodes.pop(name, None)
                raise DriverError(
                    f"Baremetal node {name} was removed from the hardware manager."
                ) from None
            raise
        self._nodes[name] = fresh
        return fresh

    def note(self, name: str, **fields: str) -> None:
        """What a finished task did, into the cached list (reports read it)."""
        node = self._nodes.get(name)
        if node is not None:
            node.update(fields)

    async def occupant(self, node: Json) -> str | None:
        """The instance installed (or being installed) on ``node``, if any."""
        name = str(node["name"])
        if node["provision_state"] in ("available", "enrolled"):
            self._owner[name] = None
            return None
        if name not in self._owner:
            tasks = await self.client.tasks(node=str(node["uuid"]))
            installs = [t for t in tasks if t["type"] == "install"]
            self._owner[name] = instance_of(installs[-1].get("image_url")) if installs else None
        return self._owner[name]

    def own(self, name: str, instance_uuid: str | None) -> None:
        """Node ``name`` now holds ``instance_uuid`` (None: nothing)."""
        self._owner[name] = instance_uuid

    def forget_owner(self, name: str) -> None:
        """Not known any more: the next :meth:`occupant` asks hwmgr."""
        self._owner.pop(name, None)
