"""Cinder's ``os-services`` (admin): the volume roles' heartbeats as ``cinder-scheduler``
(per host) and ``cinder-volume`` (per ``host@backend``), so ``openstack volume service
list`` shows which backends are served and whether their role is alive."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import or_, select

from stockyard.api.deps import AdminCtx, SessionDep, StateDep
from stockyard.api.microversion import APIVersion
from stockyard.api.volume.common import VolumeVersion, iso
from stockyard.db.base import utcnow
from stockyard.db.heartbeat import CINDER_BINARIES
from stockyard.db.models.compute import Service

router = APIRouter()
DOWN_AFTER_SECONDS = 60
"""Cinder's ``service_down_time``."""


def _view(service: Service, zone: str, version: APIVersion, now: datetime) -> dict[str, Any]:
    up = not service.forced_down and now - service.last_seen <= timedelta(
        seconds=DOWN_AFTER_SECONDS
    )
    body: dict[str, Any] = {
        "binary": service.binary,
        "host": service.host,
        "zone": zone,
        "status": "disabled" if service.disabled else "enabled",
        "state": "up" if up else "down",
        "updated_at": iso(service.last_seen),
        "disabled_reason": service.disabled_reason,
    }
    if version >= APIVersion(3, 7):
        body["cluster"] = None
    if service.binary == "cinder-volume":
        body["replication_status"] = "disabled"
        body["active_backend_id"] = None
        body["frozen"] = False
    return body


@router.get("/os-services")
async def list_services(
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
    version: VolumeVersion,
    host: Annotated[str | None, Query()] = None,
    binary: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    stmt = select(Service).where(Service.binary.in_(CINDER_BINARIES)).order_by(Service.id)
    if host is not None:
        # Cinder's host filter also matches the host's backends (``host@backend``).
        stmt = stmt.where(
            or_(Service.host == host, Service.host.startswith(f"{host}@", autoescape=True))
        )
    if binary is not None:
        stmt = stmt.where(Service.binary == binary)
    now = utcnow()
    zone = state.settings.volume_availability_zone
    return {"services": [_view(s, zone, version, now) for s in await session.scalars(stmt)]}
