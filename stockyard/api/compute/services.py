"""Compute services (admin): ``os-services`` list, update, the pre-2.53 actions, delete.

The list shows the real processes under Nova's binary names, so that tools work:

- ``nova-scheduler`` and ``nova-conductor``: the ``services`` rows that scheduler and
  conductor processes refresh (:mod:`stockyard.db.heartbeat`), zone ``internal``;
- ``nova-compute``: one per ``hosts`` row (hypervisor or baremetal node), in the host's
  effective zone, up while its agent reports (``last_seen``). Its id is the host's id
  (2.53+: uuid), as ``os-hypervisors`` shows in ``service.id``.

Deleting a baremetal node's ``nova-compute`` service removes the node as
``DELETE /stock/v1/nodes/{uuid}`` does (:func:`stockyard.stock.enrolment.remove`): from
the region's hardware manager too, or its agent would keep reporting a host the cloud
no longer has.

Before 2.53 ids are integers; a process row's id is ``PROCESS_ID_BASE + row id`` so it
never collides with a host's. Disabling (or forcing down) a compute service makes the
scheduler skip its host: the placement claim refuses it at once, the in-memory host
states learn it at their next refresh.
"""

from __future__ import annotations

import uuid as uuidlib
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.common import DB_INT_MAX, iso
from stockyard.api.compute.hostinfo import HOST_DOWN_AFTER_SECONDS, host_is_up
from stockyard.api.compute.zones import aggregate_zones_by_host, effective_az, zone_of_host
from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import AdminCtx, Microversion, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.api.stock.enrol import HwmgrDep
from stockyard.db.base import Database, utcnow
from stockyard.db.heartbeat import CINDER_BINARIES
from stockyard.db.models import AggregateHost, Allocation, Host, Instance
from stockyard.db.models.compute import Service
from stockyard.stock import StockError, StockNotFound
from stockyard.stock.enrolment import remove as remove_node
from stockyard.stock.hwmgr_admin import HwmgrAdmin, HwmgrUnavailable
from stockyard.stock.inventory import BAREMETAL

router = APIRouter()

COMPUTE_BINARY = "nova-compute"
INTERNAL_ZONE = "internal"
PROCESS_ID_BASE = 1_000_000_000
"""Pre-2.53 integer ids of scheduler/conductor rows start here; below are host ids."""

Target = Host | Service


def _process_is_up(service: Service, now: datetime) -> bool:
    if service.forced_down:
        return False
    return now - service.last_seen <= timedelta(seconds=HOST_DOWN_AFTER_SECONDS)


def _id(target: Target, version: APIVersion) -> int | str:
    if version.at_least("2.53"):
        return target.uuid
    return target.id if isinstance(target, Host) else PROCESS_ID_BASE + target.id


def _view(target: Target, zone: str, version: APIVersion, now: datetime) -> dict[str, Any]:
    if isinstance(target, Host):
        host, binary, disabled = target.name, COMPUTE_BINARY, target.status != "enabled"
        up, seen = host_is_up(target, now), target.last_seen
    else:
        host, binary, disabled = target.host, target.binary, target.disabled
        up, seen = _process_is_up(target, now), target.last_seen
    body: dict[str, Any] = {
        "id": _id(target, version),
        "binary": binary,
        "disabled_reason": target.disabled_reason,
        "host": host,
        "state": "up" if up else "down",
        "status": "disabled" if disabled else "enabled",
        "updated_at": iso(seen),
        "zone": zone,
    }
    if version.at_least("2.11"):
        body["forced_down"] = bool(target.forced_down)
    return body


@router.get("/os-services")
async def list_services(
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    host: Annotated[str | None, Query()] = None,
    binary: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """Every service, optionally only those of ``host`` and/or ``binary``."""
    now = utcnow()
    out: list[dict[str, Any]] = []
    if binary is None or binary != COMPUTE_BINARY:
        # The volume role's rows (cinder-*) are Block Storage's os-services.
        query = select(Service).where(Service.binary.not_in(CINDER_BINARIES)).order_by(Service.id)
        if host is not None:
            query = query.where(Service.host == host)
        if binary is not None:
            query = query.where(Service.binary == binary)
        for service in (await session.scalars(query)).all():
            out.append(_view(service, INTERNAL_ZONE, version, now))
    if binary is None or binary == COMPUTE_BINARY:
        hquery = select(Host).order_by(Host.id)
        if host is not None:
            hquery = hquery.where(Host.name == host)
        zones = await aggregate_zones_by_host(session)
        for h in (await session.scalars(hquery)).all():
            out.append(_view(h, effective_az(h.az, zones.get(h.name, ())), version, now))
    return {"services": out}


async def _zone(session: AsyncSession, target: Target) -> str:
    if isinstance(target, Service):
        return INTERNAL_ZONE
    return await zone_of_host(session, target.name) or target.az


async def _by_id(session: AsyncSession, version: APIVersion, service_id: str) -> Target:
    target: Target | None = None
    if version.at_least("2.53"):
        try:
            uuidlib.UUID(service_id)
        except ValueError:
            raise APIError(400, f"Invalid uuid {service_id}") from None
        target = await session.scalar(select(Host).where(Host.uuid == service_id))
        if target is None:
            target = await session.scalar(select(Service).where(Service.uuid == service_id))
    else:
        if not service_id.isdecimal():
            raise APIError(400, f"Invalid ID {service_id}")
        number = int(service_id)
        if number > DB_INT_MAX:  # no row has it; the database would refuse to compare it
            target = None
        elif number >= PROCESS_ID_BASE:
            target = await session.get(Service, number - PROCESS_ID_BASE)
        else:
            target = await session.get(Host, number)
    if target is None:
        raise APIError(404, _not_found(service_id))
    return target


def _not_found(service_id: str) -> str:
    return f"Service {service_id} could not be found."


async def _by_host_binary(session: AsyncSession, host: str, binary: str) -> Target:
    target: Target | None
    if binary == COMPUTE_BINARY:
        target = await session.scalar(select(Host).where(Host.name == host))
    else:
        target = await session.scalar(
            select(Service).where(Service.host == host, Service.binary == binary)
        )
    if target is None:
        raise APIError(404, f"Compute host {host} could not be found.")
    return target


def _set_status(target: Target, disabled: bool, reason: str | None) -> None:
    if isinstance(target, Host):
        target.status = "disabled" if disabled else "enabled"
    else:
        target.disabled = disabled
    target.disabled_reason = reason


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise APIError(400, "Invalid input for field/attribute body: an object is required.")
    return body


def _check_keys(body: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    for key in sorted(set(body) - allowed):
        raise APIError(400, f"Invalid input for field/attribute body. Additional property {key!r}.")
    for key in sorted(required - set(body)):
        raise APIError(400, f"Invalid input for field/attribute {key}: it is a required property.")


def _string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= 255:
        raise APIError(
            400,
            f"Invalid input for field/attribute {key}. Value: {value!r}. "
            "A string of 1 to 255 characters is required.",
        )
    return value


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise APIError(
            400,
            f"Invalid input for field/attribute {key}. Value: {value!r}. A boolean is required.",
        )
    return value


_ACTIONS = ("enable", "disable", "disable-log-reason", "force-down")


async def _legacy_action(
    session: AsyncSession, version: APIVersion, action: str, body: Any
) -> dict[str, Any]:
    """``PUT /os-services/{enable,disable,disable-log-reason,force-down}`` (before 2.53)."""
    if action not in _ACTIONS or (action == "force-down" and not version.at_least("2.11")):
        raise APIError(404, f"Unknown action {action}")
    data = _object(body)
    extra = {"forced_down"} if action == "force-down" else {"disabled_reason"}
    _check_keys(data, {"host", "binary", *extra}, {"host", "binary"})
    host, binary = _string(data, "host"), _string(data, "binary")
    if action == "disable-log-reason" and "disabled_reason" not in data:
        raise APIError(400, "Missing disabled reason field")
    if action == "force-down" and "forced_down" not in data:
        raise APIError(400, "Missing forced_down field")
    target = await _by_host_binary(session, host, binary)
    out: dict[str, Any] = {"host": host, "binary": binary}
    if action == "force-down":
        target.forced_down = _bool(data, "forced_down")
        out["forced_down"] = target.forced_down
    elif action == "enable":
        _set_status(target, False, None)
        out["status"] = "enabled"
    elif action == "disable":
        _set_status(target, True, target.disabled_reason)
        out["status"] = "disabled"
    else:
        reason = _string(data, "disabled_reason")
        _set_status(target, True, reason)
        out.update(status="disabled", disabled_reason=reason)
    await session.commit()
    return {"service": out}


@router.put("/os-services/{service_id}")
async def update_service(
    service_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """2.53+: update the service ``service_id`` (uuid); before: one of the actions."""
    if not version.at_least("2.53"):
        return await _legacy_action(session, version, service_id, body)
    data = _object(body)
    _check_keys(data, {"status", "disabled_reason", "forced_down"}, set())
    status = data.get("status")
    if status is not None and status not in ("enabled", "disabled"):
        raise APIError(
            400,
            f"Invalid input for field/attribute status. Value: {status!r}. "
            "'enabled' or 'disabled' is required.",
        )
    reason = _string(data, "disabled_reason") if "disabled_reason" in data else None
    forced_down = _bool(data, "forced_down") if "forced_down" in data else None
    if reason is not None and status != "disabled":
        raise APIError(400, "Specifying 'disabled_reason' with status 'enabled' is invalid.")
    if status is None and forced_down is None:
        raise APIError(
            400, "No updates were requested. Fields 'status' or 'forced_down' should be specified."
        )
    target = await _by_id(session, version, service_id)
    if not isinstance(target, Host):
        raise APIError(
            400,
            f"Updating a {target.binary} service is not supported. Only nova-compute "
            "services can be updated.",
        )
    if status is not None:
        _set_status(target, status == "disabled", reason)
    if forced_down is not None:
        target.forced_down = forced_down
    zone = await _zone(session, target)
    await session.commit()
    return {"service": _view(target, zone, version, utcnow())}


async def _remove_node(
    session: AsyncSession, db: Database, hwmgr: HwmgrAdmin, node_uuid: str, service_id: str
) -> None:
    # remove() commits in sessions of its own and waits on hwmgr between them: our read
    # transaction must not stay open (and hold its snapshot) all that time.
    await session.rollback()
    try:
        await remove_node(db, hwmgr, node_uuid)
    except StockNotFound:
        raise APIError(404, _not_found(service_id)) from None
    except HwmgrUnavailable as exc:
        raise APIError(503, str(exc)) from exc
    except StockError as exc:
        # hwmgr refuses while a task owns the node; remove() has enabled the host again.
        raise APIError(409, str(exc)) from exc


@router.delete("/os-services/{service_id}", status_code=204)
async def delete_service(
    service_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    state: StateDep,
    hwmgr: HwmgrDep,
) -> Response:
    """Delete a service; a compute service's host must hold no instance (409). A
    baremetal node leaves its hardware manager too (409 while a task there owns it)."""
    target = await _by_id(session, version, service_id)
    if isinstance(target, Host):
        hosting = await session.scalar(
            select(Instance.id)
            .where(Instance.host == target.name, Instance.deleted.is_(False))
            .limit(1)
        )
        if hosting is not None:
            raise APIError(
                409,
                "Unable to delete compute service that is hosting instances. "
                "Migrate or delete the instances first.",
            )
        if target.kind == BAREMETAL:
            await _remove_node(session, state.db, hwmgr, target.uuid, service_id)
            return Response(status_code=204)
        await session.execute(delete(AggregateHost).where(AggregateHost.host_name == target.name))
        await session.execute(delete(Allocation).where(Allocation.host_id == target.id))
    await delete_or_404(session, target, _not_found(service_id))
    await session.commit()
    return Response(status_code=204)
