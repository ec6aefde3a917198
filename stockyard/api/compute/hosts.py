"""``os-hosts`` (admin; deprecated in Nova, removed at 2.43): hosts and their usage.

The list has one row per enabled service that is not an API process, as Nova builds it
from ``os-services``: each compute host (``service`` "compute", in its effective zone)
and each scheduler and conductor process (zone ``internal``). Show gives a compute host's
capacity, what is claimed on it, and what its instances hold in total and per project.

Host power actions (startup, shutdown, reboot) and maintenance mode are not something
Stockyard's drivers do to a whole host: they answer 501 as Nova does for such a driver.
Enabling or disabling a host is real: it is the compute service's status.
"""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.instance_sizes import size_of
from stockyard.api.compute.removed import require_before
from stockyard.api.compute.services import INTERNAL_ZONE
from stockyard.api.compute.zones import aggregate_zones_by_host, effective_az
from stockyard.api.deps import Ctx, Microversion, SessionDep
from stockyard.api.errors import APIError
from stockyard.db.models import Host, Instance
from stockyard.db.models.compute import Service
from stockyard.identity.context import RequestContext

router = APIRouter()

REMOVED_AT = "2.43"
# Nova's update schema: these spellings only.
_TOGGLES = ("enable", "disable", "Enable", "Disable", "ENABLE", "DISABLE")


async def _admin(ctx: Ctx, version: Microversion) -> RequestContext:
    # The version first: from 2.43 the URL does not exist for anyone, as in Nova.
    require_before(version, REMOVED_AT)
    if not ctx.is_admin:
        raise APIError(403, "Policy doesn't allow os_compute_api:os-hosts to be performed.")
    return ctx


HostsAdmin = Annotated[RequestContext, Depends(_admin)]


async def _compute_host(session: AsyncSession, name: str) -> Host:
    host = await session.scalar(select(Host).where(Host.name == name))
    if host is None:
        raise APIError(404, f"Compute host {name} could not be found.")
    return host


@router.get("/os-hosts")
async def list_hosts(
    session: SessionDep,
    ctx: HostsAdmin,
    zone: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Enabled services as hosts; ``zone`` (when not blank) keeps those of that zone."""
    rows: list[dict[str, str]] = []
    services = await session.scalars(
        select(Service).where(Service.disabled.is_(False)).order_by(Service.id)
    )
    for service in services.all():
        topic = service.binary.removeprefix("nova-")
        rows.append({"host_name": service.host, "service": topic, "zone": INTERNAL_ZONE})
    zones = await aggregate_zones_by_host(session)
    hosts = await session.scalars(select(Host).where(Host.status == "enabled").order_by(Host.id))
    for host in hosts.all():
        host_zone = effective_az(host.az, zones.get(host.name, ()))
        rows.append({"host_name": host.name, "service": "compute", "zone": host_zone})
    if zone:
        rows = [row for row in rows if row["zone"] == zone]
    return {"hosts": rows}


def _resource(host: str, project: str, cpu: int, memory_mb: int, disk_gb: int) -> dict[str, Any]:
    return {
        "resource": {
            "host": host,
            "project": project,
            "cpu": cpu,
            "memory_mb": memory_mb,
            "disk_gb": disk_gb,
        }
    }


@router.get("/os-hosts/{host_name}")
async def show_host(host_name: str, session: SessionDep, ctx: HostsAdmin) -> dict[str, Any]:
    """Capacity ``(total)``, claimed ``(used_now)``, the instances' sum ``(used_max)``,
    then one row per project with instances on the host."""
    host = await _compute_host(session, host_name)
    instances = await session.scalars(
        select(Instance)
        .where(Instance.host == host.name, Instance.deleted.is_(False))
        .order_by(Instance.id)
    )
    per_project: dict[str, list[int]] = {}
    total = [0, 0, 0]
    for inst in instances.all():
        size = size_of(inst)
        sums = per_project.setdefault(inst.project_id, [0, 0, 0])
        for acc in (sums, total):
            acc[0] += size.vcpus
            acc[1] += size.memory_mb
            acc[2] += size.local_gb
    name = host.name
    resources = [
        _resource(name, "(total)", host.vcpus, host.memory_mb, host.local_gb),
        _resource(name, "(used_now)", host.vcpus_used, host.memory_mb_used, host.local_gb_used),
        _resource(name, "(used_max)", *total),
    ]
    resources += [_resource(name, project, *sums) for project, sums in per_project.items()]
    return {"host": resources}


def _toggle(body: dict[str, Any], key: str) -> bool | None:
    """Nova's enum (enable/disable, any of three casings); None when absent."""
    if key not in body:
        return None
    value = body[key]
    if value not in _TOGGLES:
        raise APIError(
            400,
            f"Invalid input for field/attribute {key}. Value: {value!r}. "
            f"{value!r} is not one of {list(_TOGGLES)}",
        )
    return str(value).lower() == "enable"


@router.put("/os-hosts/{host_name}")
async def update_host(
    host_name: str,
    session: SessionDep,
    ctx: HostsAdmin,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Enable or disable the host's compute service; maintenance mode is 501."""
    if not isinstance(body, dict):
        raise APIError(400, "Invalid input for field/attribute body: an object is required.")
    for key in sorted(set(body) - {"status", "maintenance_mode"}):
        raise APIError(
            400,
            "Invalid input for field/attribute body. Additional properties are not allowed "
            f"({key!r} was unexpected)",
        )
    enabled = _toggle(body, "status")
    maintenance = _toggle(body, "maintenance_mode")
    if enabled is None and maintenance is None:
        raise APIError(400, "'status' or 'maintenance_mode' is needed for host update")
    host = await _compute_host(session, host_name)
    if maintenance is not None:
        # Refused before the status changes, so a 501 never leaves half an update.
        raise APIError(501, "Virt driver does not implement host maintenance mode.")
    assert enabled is not None
    host.status = "enabled" if enabled else "disabled"
    if enabled:
        host.disabled_reason = None
    await session.commit()
    return {"host": host.name, "status": host.status}


async def _power_action(session: AsyncSession, host_name: str, action: str) -> NoReturn:
    await _compute_host(session, host_name)
    raise APIError(501, f"Virt driver does not implement host {action} action.")


@router.get("/os-hosts/{host_name}/startup")
async def startup_host(host_name: str, session: SessionDep, ctx: HostsAdmin) -> dict[str, Any]:
    return await _power_action(session, host_name, "startup")


@router.get("/os-hosts/{host_name}/shutdown")
async def shutdown_host(host_name: str, session: SessionDep, ctx: HostsAdmin) -> dict[str, Any]:
    return await _power_action(session, host_name, "shutdown")


@router.get("/os-hosts/{host_name}/reboot")
async def reboot_host(host_name: str, session: SessionDep, ctx: HostsAdmin) -> dict[str, Any]:
    return await _power_action(session, host_name, "reboot")
