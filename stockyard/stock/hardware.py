"""Read-only view of each region's hardware manager (hwmgr): node states and install tasks.

The public API serves these to admins; hwmgr itself stays private (its service token never
leaves the control plane). Endpoints: the ``hwmgr_url``/``hwmgr_token``
settings (a deployment's own region, the token from the Secret the baremetal agent reads)
and ``<hwmgr_endpoints_dir>/<region>/endpoint.json`` (``{"region", "url", "token"}``, what
``stockyard up`` writes for a separate ``stockyard baremetal-agent``).

Every region is asked concurrently with a short timeout; a region whose hwmgr does not
answer is reported by name next to the others' answers instead of failing the whole call,
because an operator looking at a broken region still needs to see the healthy ones.

This is a small client of its own, not the baremetal driver's ``HwmgrClient``: the API
layer must not import the compute drivers (tests/test_layering.py), and it needs only
three GETs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from stockyard.settings import Settings

log = logging.getLogger(__name__)
Json = dict[str, Any]

# hwmgr's task states (stockyard/hwmgr/tasks/states.py) are the phases of a task.
FINISHED_PHASES = frozenset({"done", "failed"})
PHASES = ("queued", "powering_off", "setting_pxe", "powering_on", "installing", "rebooting")


@dataclass(frozen=True)
class Endpoint:
    region: str
    url: str
    token: str


@dataclass
class Unreachable:
    region: str
    message: str


@dataclass
class Answer:
    """What the regions said: their items, and the regions that did not answer."""

    items: list[Json] = field(default_factory=list)
    unreachable: list[Unreachable] = field(default_factory=list)


def endpoints(settings: Settings) -> list[Endpoint]:
    """Every region's hwmgr endpoint, sorted by region: ``hwmgr_url`` (a deployment's own
    region) and the endpoint files; a malformed file is logged and skipped (it would
    otherwise hide every other region)."""
    root = settings.hwmgr_endpoints_dir or settings.data_dir / "hwmgr"
    out: list[Endpoint] = []
    if settings.hwmgr_url and settings.hwmgr_token:
        token = settings.hwmgr_token.get_secret_value()
        out.append(Endpoint(settings.hwmgr_region, settings.hwmgr_url, token))
    for path in sorted(Path(root).glob("*/endpoint.json")):
        try:
            doc = json.loads(path.read_text())
            ep = Endpoint(str(doc["region"]), str(doc["url"]), str(doc["token"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("hwmgr endpoint file %s unreadable: %s", path, exc)
            continue
        if all(e.region != ep.region for e in out):  # hwmgr_url wins for its region
            out.append(ep)
    return sorted(out, key=lambda e: e.region)


def hwmgr_client(
    ep: Endpoint,
    timeout: float,
    tls: ssl.SSLContext,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An HTTP client for one region's hwmgr, carrying its service token."""
    return httpx.AsyncClient(
        base_url=ep.url.rstrip("/"),
        headers={"X-Auth-Token": ep.token},
        timeout=httpx.Timeout(timeout),
        transport=transport,
        verify=tls,
    )


class HardwareReader:
    """GETs on every region's hwmgr; ``transport`` lets tests stand in for hwmgr."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self._tls: ssl.SSLContext | None = None

    def _client(self, ep: Endpoint) -> httpx.AsyncClient:
        # One TLS context for every call: httpx builds a new one per client otherwise,
        # ~17 ms each, more than the hwmgr call itself.
        if self._tls is None:
            self._tls = ssl.create_default_context()
        timeout = self.settings.hwmgr_read_timeout_seconds
        return hwmgr_client(ep, timeout, self._tls, self.transport)

    async def _each(self, region: str | None, fetch: Any) -> Answer:
        """``fetch(client, endpoint) -> items`` on every (or one) region, concurrently."""
        eps = [e for e in endpoints(self.settings) if region is None or e.region == region]

        async def one(ep: Endpoint) -> list[Json] | Unreachable:
            try:
                async with self._client(ep) as client:
                    items: list[Json] = await fetch(client, ep)
                    return items
            except httpx.HTTPStatusError as exc:
                return Unreachable(
                    ep.region,
                    f"the hardware manager of region {ep.region} answered HTTP "
                    f"{exc.response.status_code}",
                )
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                text = str(exc) or type(exc).__name__
                return Unreachable(
                    ep.region, f"the hardware manager of region {ep.region} did not answer: {text}"
                )

        answer = Answer()
        if region is not None and not eps:
            # Asked for a region nobody configured: say so rather than answer "no nodes".
            message = f"no hardware manager is configured for region {region}"
            answer.unreachable.append(Unreachable(region, message))
        for result in await asyncio.gather(*(one(e) for e in eps)):
            if isinstance(result, Unreachable):
                log.warning("%s", result.message)
                answer.unreachable.append(result)
            else:
                answer.items.extend(result)
        return answer

    async def nodes(self, region: str | None = None) -> Answer:
        """Each node's provision and power state and last error, as hwmgr knows them."""

        async def fetch(client: httpx.AsyncClient, ep: Endpoint) -> list[Json]:
            resp = await client.get("/v1/nodes")
            resp.raise_for_status()
            return [node_state(n, ep.region) for n in resp.json()["nodes"]]

        answer = await self._each(region, fetch)
        answer.items.sort(key=lambda n: (n["region"], n["name"]))
        return answer

    async def tasks(
        self, region: str | None, state: str, task_type: str | None, now: datetime | None = None
    ) -> Answer:
        """Tasks in ``state`` running | finished | all, oldest first, with their node's name
        and the elapsed time. hwmgr filters by one phase, so running tasks are one GET per
        phase (a short list each) rather than the whole history."""
        phases: list[str | None] = list(PHASES) if state == "running" else [None]
        moment = now or datetime.now(UTC)

        async def fetch(client: httpx.AsyncClient, ep: Endpoint) -> list[Json]:
            async def get(path: str, params: dict[str, str]) -> Any:
                resp = await client.get(path, params=params)
                resp.raise_for_status()
                return resp.json()

            # Every GET finishes before the client closes, even when one fails.
            results = await asyncio.gather(
                get("/v1/nodes", {}),
                *(get("/v1/tasks", {"state": p} if p else {}) for p in phases),
                return_exceptions=True,
            )
            bodies: list[Json] = []
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                bodies.append(result)
            names = {n["uuid"]: n["name"] for n in bodies[0]["nodes"]}
            out = []
            for body in bodies[1:]:
                for t in body["tasks"]:
                    view = task_view(t, ep.region, names.get(t["node_uuid"]), moment)
                    if state == "finished" and view["state"] == "running":
                        continue
                    if task_type is None or view["type"] == task_type:
                        out.append(view)
            return out

        answer = await self._each(region, fetch)
        answer.items.sort(key=lambda t: (t["started_at"] or "", t["id"]))
        return answer


def _when(value: Any) -> datetime | None:
    """hwmgr's timestamps are naive UTC (ISO 8601 without offset)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def node_state(node: Json, region: str) -> Json:
    return {
        "uuid": node["uuid"],
        "name": node["name"],
        "region": region,
        "provision_state": node["provision_state"],
        "power_state": node.get("power_state"),
        "last_error": node.get("last_error"),
        # A task holds the node (hwmgr's reservation) while it deploys or cleans.
        "reserved": node.get("reservation") is not None,
    }


def task_view(task: Json, region: str, node_name: str | None, now: datetime) -> Json:
    """The public shape of a task; the image URL stays private (it is a signed link)."""
    started = _when(task.get("created_at"))
    finished = _when(task.get("finished_at"))
    phase = str(task["state"])
    elapsed = ((finished or now) - started).total_seconds() if started else 0.0
    return {
        "id": task["uuid"],
        "region": region,
        "node_uuid": task["node_uuid"],
        "node_name": node_name,
        "type": task["type"],
        "state": phase if phase in FINISHED_PHASES else "running",
        "phase": phase,
        "attempts": task.get("attempts", 0),
        "last_error": task.get("last_error"),
        "started_at": _iso(started),
        "updated_at": _iso(_when(task.get("updated_at"))),
        "finished_at": _iso(finished),
        "elapsed_seconds": max(int(elapsed), 0),
    }
