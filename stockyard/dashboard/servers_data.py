"""The API calls behind the servers pages, combined server-side (one page, few calls).

A list page is ``GET /servers/detail`` plus the image names (Glance) and the rack
aggregates that place the hosts the API shows (to admins), all three concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stockyard.dashboard.client import APIFailure, Cloud, Unauthenticated
from stockyard.dashboard.faults import PlainFault, plain_fault
from stockyard.dashboard.together import together

# Statuses that move on by themselves: the list keeps polling while one is shown.
TRANSITIONAL = frozenset(
    {"BUILD", "REBOOT", "HARD_REBOOT", "REBUILD", "RESIZE", "MIGRATING", "PASSWORD", "DELETING"}
)
PAGE_LIMIT = 1000

# What each action does to the API, and how the confirmation page words it.
ACTIONS: dict[str, tuple[str, str]] = {
    "reboot": ("Reboot", "The guest OS is asked to restart."),
    "hard-reboot": ("Hard reboot", "The server is power-cycled, like pressing reset."),
    "stop": ("Stop", "The server is shut down; its disk and address are kept."),
    "start": ("Start", "The server is powered on."),
    "rebuild": ("Rebuild", "The server's disk is replaced by a fresh copy of the image."),
    "delete": ("Delete", "The server and its local disk are destroyed. This cannot be undone."),
}


@dataclass
class ServerRow:
    id: str
    name: str
    status: str
    task_state: str | None
    flavor: str
    image: str
    az: str
    host: str | None
    rack: str | None
    addresses: list[str]
    fault: PlainFault | None = None

    @property
    def transitional(self) -> bool:
        return self.status in TRANSITIONAL or bool(self.task_state)


@dataclass
class ServerList:
    rows: list[ServerRow]
    shows_hosts: bool
    error: str | None = None

    @property
    def transitional(self) -> bool:
        return any(r.transitional for r in self.rows)


def _addresses(server: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for network, addrs in sorted((server.get("addresses") or {}).items()):
        out.extend(f"{a.get('addr')} ({network})" for a in addrs)
    return out


def _flavor(server: dict[str, Any]) -> str:
    flavor = server.get("flavor") or {}
    return str(flavor.get("original_name") or flavor.get("id") or "")


def _image_id(server: dict[str, Any]) -> str:
    image = server.get("image")
    return str(image.get("id")) if isinstance(image, dict) else ""


async def images(cloud: Cloud) -> list[dict[str, Any]]:
    """Images the project can see (Glance), by name."""
    body = await cloud.image("GET", "/v2/images", params={"limit": PAGE_LIMIT})
    return sorted(body.get("images", []), key=lambda i: (i.get("name") or "", i["id"]))


async def racks_by_host(cloud: Cloud) -> dict[str, str]:
    """host -> "az/rack" from the rack aggregates (``stockyard:failure_domain=rack``);
    none when the API does not let the user list aggregates (403)."""
    try:
        body = await cloud.compute("GET", "/os-aggregates")
    except APIFailure as exc:
        if exc.status in (403, 404):
            return {}
        raise
    out: dict[str, str] = {}
    for agg in body.get("aggregates", []):
        meta = agg.get("metadata") or {}
        if meta.get("stockyard:failure_domain") != "rack":
            continue
        label = f"{agg.get('availability_zone') or '?'}/{meta.get('stockyard:rack', agg['name'])}"
        for host in agg.get("hosts") or []:
            out[host] = label
    return out


def _row(server: dict[str, Any], image_names: dict[str, str], racks: dict[str, str]) -> ServerRow:
    host = server.get("OS-EXT-SRV-ATTR:host")
    image_id = _image_id(server)
    return ServerRow(
        id=server["id"],
        name=server.get("name") or server["id"],
        status=server.get("status", ""),
        task_state=server.get("OS-EXT-STS:task_state"),
        flavor=_flavor(server),
        image=image_names.get(image_id, image_id) if image_id else "(volume)",
        az=server.get("OS-EXT-AZ:availability_zone") or "",
        host=host,
        rack=racks.get(host) if host else None,
        addresses=_addresses(server),
        fault=plain_fault(server.get("fault")),
    )


async def server_list(cloud: Cloud) -> ServerList:
    # The rack aggregates are asked at the same time, not after seeing hosts: one round
    # trip less for the page; for users the API hides hosts from, its 403 costs little.
    servers_body, image_list, racks = await together(
        cloud.compute("GET", "/servers/detail", params={"limit": PAGE_LIMIT}),
        images(cloud),
        racks_by_host(cloud),
    )
    servers = servers_body.get("servers", [])
    shows_hosts = any("OS-EXT-SRV-ATTR:host" in s for s in servers)
    names = {i["id"]: i.get("name") or i["id"] for i in image_list}
    rows = [_row(s, names, racks) for s in servers]
    rows.sort(key=lambda r: (r.name, r.id))
    return ServerList(rows=rows, shows_hosts=shows_hosts)


@dataclass
class ActionRecord:
    action: str
    request_id: str
    start_time: str
    message: str | None
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ServerDetail:
    row: ServerRow
    raw: dict[str, Any]
    console: str | None
    console_error: str | None
    actions: list[ActionRecord]
    group_ids: list[str]


async def _console(cloud: Cloud, server_id: str) -> tuple[str | None, str | None]:
    try:
        body = await cloud.compute(
            "POST", f"/servers/{server_id}/action", json={"os-getConsoleOutput": {"length": 50}}
        )
    except Unauthenticated:
        raise
    except APIFailure as exc:
        # No console (not running, agent busy): the rest of the page still shows.
        return None, exc.message
    return str(body.get("output", "")), None


async def _actions(cloud: Cloud, server_id: str, limit: int = 10) -> list[ActionRecord]:
    body = await cloud.compute("GET", f"/servers/{server_id}/os-instance-actions")
    listed = body.get("instanceActions", [])[:limit]
    shown = await together(
        *(
            cloud.compute("GET", f"/servers/{server_id}/os-instance-actions/{a['request_id']}")
            for a in listed
        )
    )
    return [
        ActionRecord(
            action=a["instanceAction"]["action"],
            request_id=a["instanceAction"]["request_id"],
            start_time=a["instanceAction"]["start_time"],
            message=a["instanceAction"].get("message"),
            events=a["instanceAction"].get("events") or [],
        )
        for a in shown
    ]


async def server_detail(cloud: Cloud, server_id: str) -> ServerDetail:
    body, image_list, (console, console_error), actions = await together(
        cloud.compute("GET", f"/servers/{server_id}"),
        images(cloud),
        _console(cloud, server_id),
        _actions(cloud, server_id),
    )
    server = body["server"]
    host = server.get("OS-EXT-SRV-ATTR:host")
    racks = await racks_by_host(cloud) if host else {}
    names = {i["id"]: i.get("name") or i["id"] for i in image_list}
    return ServerDetail(
        row=_row(server, names, racks),
        raw=server,
        console=console,
        console_error=console_error,
        actions=actions,
        group_ids=list(server.get("server_groups") or []),
    )


def action_body(action: str, form: dict[str, str]) -> dict[str, Any] | None:
    """The ``POST /servers/{id}/action`` body of ``action`` (None: ``delete``)."""
    if action == "reboot":
        return {"reboot": {"type": "SOFT"}}
    if action == "hard-reboot":
        return {"reboot": {"type": "HARD"}}
    if action == "stop":
        return {"os-stop": None}
    if action == "start":
        return {"os-start": None}
    if action == "rebuild":
        return {"rebuild": {"imageRef": form.get("image", "")}}
    if action == "delete":
        return None
    raise ValueError(action)


async def run_action(cloud: Cloud, server_id: str, action: str, form: dict[str, str]) -> None:
    body = action_body(action, form)
    if body is None:
        await cloud.compute("DELETE", f"/servers/{server_id}")
    else:
        await cloud.compute("POST", f"/servers/{server_id}/action", json=body)
