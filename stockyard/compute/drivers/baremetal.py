"""The baremetal compute driver: Nova's verbs on whole nodes, through hwmgr's REST API.

One ``BaremetalDriver`` serves a region's nodes (one HTTP pool, one ``TaskWatcher``);
each node's ``ComputeAgent`` gets ``driver.for_node(name)``, a view that answers for that
node alone. Verbs: spawn = install task with the image; destroy = release (clean task)
until the node is available again; reboot = BMC power cycle (a BMC has no soft reboot);
power on/off = BMC power; rebuild = clean + install on the same node.

Naming: the main DB's ``Host.name`` is hwmgr's node name (the lab also keeps
``Host.uuid`` equal to the hwmgr node uuid). Which instance a node holds is read from
hwmgr's install tasks (:mod:`stockyard.compute.drivers.baremetal_nodes`).

Images: ``image_url_for(image_id) -> (url, "sha256:<hex>")`` is given by whoever builds
the driver; the URL must be fetchable by hwmgr without credentials of ours (the lab
serves signed, expiring URLs: ``stockyard.lab.baremetal_images``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pydantic import SecretStr

from stockyard.compute.drivers.baremetal_client import HwmgrCallError, HwmgrClient, Json
from stockyard.compute.drivers.baremetal_node import BaremetalNodeDriver
from stockyard.compute.drivers.baremetal_nodes import NodeBook, mark_url
from stockyard.compute.drivers.baremetal_seen import SeenPower
from stockyard.compute.drivers.baremetal_watch import TERMINAL, TaskWatcher
from stockyard.compute.drivers.base import (
    ComputeDriver,
    DriverError,
    HostResources,
    InstanceNotFound,
    InstanceSpec,
    PowerState,
)

log = logging.getLogger(__name__)

ImageResolver = Callable[[str], Awaitable[tuple[str, str]]]
HYPERVISOR_TYPE = "baremetal"
_ATTEMPTS = 4  # re-reads when a node changes state between our read and our call


def _power(node: Json) -> PowerState:
    return PowerState.RUNNING if node.get("power_state") == "on" else PowerState.SHUTDOWN


class BaremetalDriver(ComputeDriver):
    """Every node of one hwmgr. Verbs address the node ``instance.node or instance.host``."""

    name = "baremetal"

    def __init__(
        self,
        hwmgr_url: str,
        token: str | SecretStr,
        image_url_for: ImageResolver,
        *,
        region: str | None = None,
        poll_interval: float = 0.5,
        task_timeout: float = 3600.0,
        nodes_ttl: float = 5.0,
        client: HwmgrClient | None = None,
    ) -> None:
        self.client = client or HwmgrClient(hwmgr_url, token)
        self.watcher = TaskWatcher(self.client, poll_interval)
        self.image_url_for = image_url_for
        self.region = region
        self.task_timeout = task_timeout
        self.book = NodeBook(self.client, region, nodes_ttl)
        self._seen = SeenPower()
        self._background: set[asyncio.Task[Any]] = set()

    def for_node(self, name: str) -> BaremetalNodeDriver:
        """The ``ComputeDriver`` of one node for its agent (shares this driver's pool)."""
        return BaremetalNodeDriver(self, name)

    async def nodes(self, max_age: float | None = None) -> dict[str, Json]:
        """hwmgr's nodes by name, at most ``max_age`` (default ``nodes_ttl``) s old."""
        return await self.book.nodes(max_age)

    async def _current_task(self, node: Json, task_type: str) -> Json | None:
        tasks = await self.client.tasks(node=str(node["uuid"]))
        running = [t for t in tasks if t["type"] == task_type and t["state"] not in TERMINAL]
        return running[-1] if running else None

    async def _wait(self, task: Json) -> Json:
        return await self.watcher.wait(task, self.task_timeout)

    # -- verbs by node name --------------------------------------------------------------

    async def spawn_on(self, name: str, instance: InstanceSpec) -> None:
        """Install ``instance.image_ref`` on node ``name`` and return once it runs."""
        for _ in range(_ATTEMPTS):
            node = await self.book.fresh(name)
            state = node["provision_state"]
            if state == "enrolled":
                raise DriverError(f"Baremetal node {name} is enrolled but not managed yet.")
            if state == "available":
                task = await self._deploy(node, instance)
                if task is None:
                    continue  # the node moved meanwhile: read it again
                await self._finish_deploy(node, instance, task)
                return
            occupant = await self.book.occupant(node)
            mine = occupant == instance.uuid
            if mine and state == "active":
                if node.get("power_state") != "on":
                    await self._power(node, "on", "Power on", instance)
                return
            if mine and state == "deploying":
                task = await self._current_task(node, "install")
                if task is not None:
                    await self._finish_deploy(node, instance, task)
                    return
                continue
            if state in ("active", "deploying"):
                raise DriverError(f"Baremetal node {name} is in use by another instance.")
            await self._clean(node)  # cleaning or error: back to available first
        raise DriverError(f"Baremetal node {name} kept changing state; the deploy did not start.")

    async def _deploy(self, node: Json, instance: InstanceSpec) -> Json | None:
        if not instance.image_ref:
            raise DriverError("A baremetal server needs an image.")
        try:
            url, checksum = await self.image_url_for(instance.image_ref)
        except DriverError:
            raise
        except Exception as exc:
            raise DriverError(
                f"Image {instance.image_ref} cannot be served to the hardware manager: {exc}"
            ) from exc
        try:
            task = await self.client.deploy(
                str(node["uuid"]), mark_url(url, instance.uuid), checksum
            )
        except HwmgrCallError as exc:
            if exc.status == 409:
                return None
            raise DriverError(f"Deploy on baremetal node {node['name']} refused: {exc}") from exc
        self.book.own(str(node["name"]), instance.uuid)
        return task

    async def _finish_deploy(self, node: Json, instance: InstanceSpec, task: Json) -> None:
        name = str(node["name"])
        final = await self._wait(task)
        if final["state"] == "done":
            self.book.own(name, instance.uuid)
            self.book.note(name, provision_state="active", power_state="on")
            self._seen.saw(name, instance.uuid, "on")
            return
        reason = final.get("last_error") or "no reason given"
        # No debris: the node is cleaned in the background and returns to the pool.
        self.book.forget_owner(name)
        self._in_background(self._release_quietly(name))
        raise DriverError(f"Deploy on baremetal node {name} failed: {reason}")

    async def _release_quietly(self, name: str) -> None:
        try:
            await self._clean(await self.book.fresh(name))
        except DriverError as exc:
            log.warning("cleaning of baremetal node %s after a failed deploy: %s", name, exc)

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _clean(self, node: Json) -> None:
        """Release (or join the running clean of) ``node`` and wait until it ends."""
        name = str(node["name"])
        if node["provision_state"] == "cleaning":
            task = await self._current_task(node, "clean")
        else:
            try:
                task = await self.client.release(str(node["uuid"]))
            except HwmgrCallError as exc:
                if exc.status == 409:
                    return  # the node moved meanwhile; the caller reads it again
                raise DriverError(f"Release of baremetal node {name} refused: {exc}") from exc
        if task is None:
            return
        final = await self._wait(task)
        if final["state"] != "done":
            reason = final.get("last_error") or "no reason given"
            raise DriverError(f"Cleaning of baremetal node {name} failed: {reason}")
        self.book.own(name, None)
        self._seen.forget(name)
        self.book.note(name, provision_state="available", power_state="off")

    async def destroy_on(self, name: str, instance: InstanceSpec) -> None:
        """Clean node ``name`` and wait until it is available; not ours = success."""
        for _ in range(_ATTEMPTS):
            node = await self.book.fresh(name)
            state = node["provision_state"]
            if state in ("available", "enrolled"):
                self.book.own(name, None)
                return
            occupant = await self.book.occupant(node)
            if occupant is not None and occupant != instance.uuid:
                return  # another instance's node: ours is already gone
            if state == "deploying":
                task = await self._current_task(node, "install")
                if task is not None:
                    await self._wait(task)
                continue
            await self._clean(node)
        node = await self.book.fresh(name)
        if node["provision_state"] != "available":
            raise DriverError(f"Baremetal node {name} is still {node['provision_state']}.")

    async def _mine(self, name: str, instance: InstanceSpec) -> Json:
        node = await self.book.fresh(name)
        if node["provision_state"] != "active" or await self.book.occupant(node) != instance.uuid:
            raise InstanceNotFound(instance.uuid, name)
        return node

    async def _power(
        self, node: Json, target: str, what: str, instance: InstanceSpec | None = None
    ) -> None:
        name = str(node["name"])
        self._seen.forget(name)
        try:
            node["power_state"] = await self.client.set_power(str(node["uuid"]), target)
        except HwmgrCallError as exc:
            raise DriverError(f"{what} of baremetal node {name} failed: {exc}") from exc
        if instance is not None:
            self._seen.saw(name, instance.uuid, str(node["power_state"]))

    async def reboot_on(self, name: str, instance: InstanceSpec, hard: bool) -> None:
        """Power cycle (a BMC offers no soft reboot); a node that is off is powered on."""
        node = await self._mine(name, instance)
        if node.get("power_state") == "on":
            await self._power(node, "cycle", "Reboot", instance)
        else:
            await self._power(node, "on", "Reboot", instance)

    async def power_on_on(self, name: str, instance: InstanceSpec) -> None:
        node = await self._mine(name, instance)
        if node.get("power_state") != "on":
            await self._power(node, "on", "Power on", instance)

    async def power_off_on(self, name: str, instance: InstanceSpec) -> None:
        node = await self._mine(name, instance)
        if node.get("power_state") != "off":
            await self._power(node, "off", "Power off", instance)

    async def rebuild_on(self, name: str, instance: InstanceSpec, *, stopped: bool) -> None:
        """Clean and reinstall the node; it is left off afterwards if ``stopped``."""
        node = await self.book.fresh(name)
        occupant = await self.book.occupant(node)
        if occupant is not None and occupant != instance.uuid:
            raise DriverError(f"Baremetal node {name} is in use by another instance.")
        if node["provision_state"] in ("active", "error", "cleaning"):
            await self._clean(node)
        await self.spawn_on(name, instance)
        if stopped:
            await self._power(await self.book.fresh(name), "off", "Power off", instance)

    async def power_state_on(self, name: str, instance: InstanceSpec) -> PowerState:
        """The BMC's power state now: what the verb just before saw it reach, else asked
        (hwmgr's last known one while a task owns the node)."""
        seen = self._seen.take(name, instance.uuid)
        if seen is not None:  # the verb just before this query saw the BMC reach it
            return _power({"power_state": seen})
        node = await self._mine(name, instance)
        try:
            node["power_state"] = await self.client.power(str(node["uuid"]))
        except HwmgrCallError as exc:
            log.debug("power of %s from hwmgr's record: %s", name, exc)
        return _power(node)

    async def instances_on(self, name: str) -> dict[str, PowerState]:
        """The instance on node ``name`` (from the shared node list; no BMC call).

        Its power is hwmgr's recorded one, which hwmgr's power sync keeps current: one
        node list per ``nodes_ttl`` for the whole region, not a BMC call per report."""
        node = (await self.nodes()).get(name)
        if node is None or node["provision_state"] not in ("active", "deploying"):
            return {}
        occupant = await self.book.occupant(node)
        return {occupant: _power(node)} if occupant else {}

    async def resources_of(self, name: str) -> HostResources:
        node = (await self.nodes()).get(name)
        if node is None:
            raise DriverError(f"Baremetal node {name} is not known to the hardware manager.")
        return HostResources(
            int(node["cpus"]), int(node["memory_mb"]), int(node["disk_gb"]), HYPERVISOR_TYPE
        )

    # -- ComputeDriver (node from the instance) ------------------------------------------

    @staticmethod
    def _node_name(instance: InstanceSpec) -> str:
        name = instance.node or instance.host
        if not name:
            raise DriverError(f"Instance {instance.uuid} names no baremetal node.")
        return name

    async def spawn(self, instance: InstanceSpec) -> None:
        await self.spawn_on(self._node_name(instance), instance)

    async def destroy(self, instance: InstanceSpec) -> None:
        if instance.node or instance.host:
            await self.destroy_on(self._node_name(instance), instance)

    async def reboot(self, instance: InstanceSpec, hard: bool) -> None:
        await self.reboot_on(self._node_name(instance), instance, hard)

    async def power_on(self, instance: InstanceSpec) -> None:
        await self.power_on_on(self._node_name(instance), instance)

    async def power_off(self, instance: InstanceSpec) -> None:
        await self.power_off_on(self._node_name(instance), instance)

    async def rebuild(self, instance: InstanceSpec, *, stopped: bool = False) -> None:
        await self.rebuild_on(self._node_name(instance), instance, stopped=stopped)

    async def get_power_state(self, instance: InstanceSpec) -> PowerState:
        return await self.power_state_on(self._node_name(instance), instance)

    async def get_resources(self) -> HostResources:
        """The sum over every node this driver serves."""
        nodes = list((await self.nodes()).values())
        return HostResources(
            sum(int(n["cpus"]) for n in nodes),
            sum(int(n["memory_mb"]) for n in nodes),
            sum(int(n["disk_gb"]) for n in nodes),
            HYPERVISOR_TYPE,
        )

    async def list_instances(self) -> dict[str, PowerState]:
        out: dict[str, PowerState] = {}
        for name in list(await self.nodes()):
            out.update(await self.instances_on(name))
        return out

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.watcher.close()
        with contextlib.suppress(Exception):
            await self.client.close()
