"""Hypervisors (admin): ``os-hypervisors`` list/detail/show/uptime/search/statistics.

Every ``Host`` row (VM hypervisor or baremetal node) is one hypervisor, as in Nova with
Ironic. Ids are the host UUID from 2.53 and the integer id before.

From 2.88, as Nova: detail and show lose the capacity fields (``_CAPACITY``: placement,
not the hypervisor, is the place to read them), show gains ``uptime``, and
``/statistics`` and ``/{id}/uptime`` are gone (404).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.common import paginate, parse_bool, parse_limit, row_id
from stockyard.api.compute.hostinfo import host_is_up
from stockyard.api.deps import AdminCtx, Microversion, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.base import utcnow
from stockyard.db.models import Host, Instance

router = APIRouter()

_HYPERVISOR_VERSION = 1000000  # Nova shows an integer version; libvirt 1.0.0 style


# Dropped from detail and show at 2.88.
_CAPACITY = (
    "vcpus",
    "vcpus_used",
    "memory_mb",
    "memory_mb_used",
    "local_gb",
    "local_gb_used",
    "free_ram_mb",
    "free_disk_gb",
    "disk_available_least",
    "running_vms",
    "current_workload",
    "cpu_info",
)
_GONE = "The resource could not be found."


def _id(host: Host, version: APIVersion) -> str | int:
    return host.uuid if version.at_least("2.53") else host.id


def _summary(host: Host, version: APIVersion, now: datetime) -> dict[str, Any]:
    return {
        "id": _id(host, version),
        "hypervisor_hostname": host.name,
        "state": "up" if host_is_up(host, now) else "down",
        "status": host.status,
    }


def _cpu_info(host: Host, version: APIVersion) -> Any:
    info = {
        "arch": "x86_64",
        "model": "host-model",
        "vendor": "Stockyard",
        "topology": {"cells": 1, "sockets": 1, "cores": host.vcpus, "threads": 1},
        "features": [],
    }
    # A JSON string before 2.28, an object after.
    return info if version.at_least("2.28") else json.dumps(info)


def _detail(host: Host, version: APIVersion, now: datetime) -> dict[str, Any]:
    body = _summary(host, version, now)
    free_disk = host.local_gb - host.local_gb_used
    body.update(
        {
            "hypervisor_type": host.hypervisor_type,
            "hypervisor_version": _HYPERVISOR_VERSION,
            "host_ip": host.host_ip,
            "vcpus": host.vcpus,
            "vcpus_used": host.vcpus_used,
            "memory_mb": host.memory_mb,
            "memory_mb_used": host.memory_mb_used,
            "local_gb": host.local_gb,
            "local_gb_used": host.local_gb_used,
            "free_ram_mb": host.memory_mb - host.memory_mb_used,
            "free_disk_gb": free_disk,
            "disk_available_least": free_disk,
            "running_vms": host.running_vms,
            "current_workload": 0,
            "cpu_info": _cpu_info(host, version),
            "service": {
                "host": host.name,
                # Nova's service id: a UUID from 2.53; we have one service per host.
                "id": host.uuid if version.at_least("2.53") else host.id,
                "disabled_reason": host.disabled_reason,
            },
        }
    )
    if version.at_least("2.88"):
        for key in _CAPACITY:
            del body[key]
    return body


async def _hosts(
    session: AsyncSession,
    version: APIVersion,
    pattern: str | None,
    limit: str | None,
    marker: str | None,
) -> list[Host]:
    if pattern is not None and not version.at_least("2.53"):
        raise APIError(400, "Query parameter hypervisor_hostname_pattern needs 2.53.")
    if (limit is not None or marker is not None) and not version.at_least("2.33"):
        raise APIError(400, "Query parameters limit and marker need microversion 2.33.")
    if pattern is not None and (limit is not None or marker is not None):
        raise APIError(
            400, "Paging over hypervisors with hypervisor_hostname_pattern is not supported."
        )
    query = select(Host).order_by(Host.id)
    if pattern is not None:
        query = query.where(Host.name.contains(pattern, autoescape=True))
    hosts = list((await session.scalars(query)).all())
    if pattern is not None and not hosts:
        raise APIError(404, f"No hypervisor matching '{pattern}' could be found.")
    key = "uuid" if version.at_least("2.53") else "id"
    return paginate(hosts, key, marker, parse_limit(limit))


Q = Annotated[str | None, Query()]


async def _servers_by_host(
    session: AsyncSession, hosts: list[Host]
) -> dict[str, list[dict[str, str]]]:
    """Host name -> ``[{"name", "uuid"}]`` of its live instances (``with_servers``)."""
    out: dict[str, list[dict[str, str]]] = {h.name: [] for h in hosts}
    if not hosts:
        return out
    rows = await session.execute(
        select(Instance.host, Instance.name, Instance.uuid)
        .where(Instance.host.in_(list(out)), Instance.deleted.is_(False))
        .order_by(Instance.id)
    )
    for host, name, server_uuid in rows.all():
        if host is not None:
            out[host].append({"name": name, "uuid": server_uuid})
    return out


async def _add_servers(
    session: AsyncSession,
    version: APIVersion,
    hosts: list[Host],
    bodies: list[dict[str, Any]],
    with_servers: str | None,
) -> None:
    """From 2.53, ``with_servers=true`` adds each hypervisor's servers, as Nova does."""
    if with_servers is None:
        return
    if not version.at_least("2.53"):
        raise APIError(400, "Query parameter with_servers needs microversion 2.53.")
    if not parse_bool("with_servers", with_servers):
        return
    servers = await _servers_by_host(session, hosts)
    for host, body in zip(hosts, bodies, strict=True):
        if servers[host.name]:
            body["servers"] = servers[host.name]


async def _list(
    session: AsyncSession,
    version: APIVersion,
    view: Callable[[Host, APIVersion, datetime], dict[str, Any]],
    pattern: str | None,
    limit: str | None,
    marker: str | None,
    with_servers: str | None,
) -> dict[str, Any]:
    hosts = await _hosts(session, version, pattern, limit, marker)
    now = utcnow()
    bodies = [view(h, version, now) for h in hosts]
    await _add_servers(session, version, hosts, bodies, with_servers)
    return {"hypervisors": bodies}


@router.get("/os-hypervisors")
async def list_hypervisors(
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    hypervisor_hostname_pattern: Q = None,
    limit: Q = None,
    marker: Q = None,
    with_servers: Q = None,
) -> dict[str, Any]:
    pattern = hypervisor_hostname_pattern
    return await _list(session, version, _summary, pattern, limit, marker, with_servers)


@router.get("/os-hypervisors/detail")
async def list_hypervisors_detail(
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    hypervisor_hostname_pattern: Q = None,
    limit: Q = None,
    marker: Q = None,
    with_servers: Q = None,
) -> dict[str, Any]:
    pattern = hypervisor_hostname_pattern
    return await _list(session, version, _detail, pattern, limit, marker, with_servers)


@router.get("/os-hypervisors/statistics")
async def hypervisor_statistics(
    session: SessionDep, ctx: AdminCtx, version: Microversion
) -> dict[str, Any]:
    """Sums over every hypervisor (until 2.87: Nova removed it in 2.88)."""
    if version.at_least("2.88"):
        raise APIError(404, _GONE)
    hosts = (await session.scalars(select(Host))).all()
    stats = {
        "count": len(hosts),
        "vcpus": sum(h.vcpus for h in hosts),
        "vcpus_used": sum(h.vcpus_used for h in hosts),
        "memory_mb": sum(h.memory_mb for h in hosts),
        "memory_mb_used": sum(h.memory_mb_used for h in hosts),
        "local_gb": sum(h.local_gb for h in hosts),
        "local_gb_used": sum(h.local_gb_used for h in hosts),
        "free_ram_mb": sum(h.memory_mb - h.memory_mb_used for h in hosts),
        "free_disk_gb": sum(h.local_gb - h.local_gb_used for h in hosts),
        "disk_available_least": sum(h.local_gb - h.local_gb_used for h in hosts),
        "running_vms": sum(h.running_vms for h in hosts),
        "current_workload": 0,
    }
    return {"hypervisor_statistics": stats}


async def _get(session: AsyncSession, version: APIVersion, hypervisor_id: str) -> Host:
    host: Host | None = None
    if version.at_least("2.53"):
        try:
            uuid.UUID(hypervisor_id)
        except ValueError:
            raise APIError(400, f"Invalid uuid {hypervisor_id}") from None
        host = await session.scalar(select(Host).where(Host.uuid == hypervisor_id))
    elif (key := row_id(hypervisor_id)) is not None:
        host = await session.get(Host, key)
    if host is None:
        raise APIError(404, f"Hypervisor with ID {hypervisor_id} could not be found.")
    return host


@router.get("/os-hypervisors/{hypervisor_id}")
async def show_hypervisor(
    hypervisor_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    with_servers: Q = None,
) -> dict[str, Any]:
    host = await _get(session, version, hypervisor_id)
    now = utcnow()
    body = _detail(host, version, now)
    if version.at_least("2.88"):
        body["uptime"] = _uptime(host, now)
    await _add_servers(session, version, [host], [body], with_servers)
    return {"hypervisor": body}


def _uptime(host: Host, now: datetime) -> str:
    """Uptime in the ``uptime(1)`` form that clients parse, counted from enrolment."""
    seconds = int((now - host.created_at).total_seconds())
    days, rest = divmod(seconds, 86400)
    return (
        f" {now:%H:%M:%S} up {days} days, {rest // 3600}:{rest % 3600 // 60:02d}, "
        "0 users,  load average: 0.00, 0.00, 0.00"
    )


@router.get("/os-hypervisors/{hypervisor_id}/uptime")
async def hypervisor_uptime(
    hypervisor_id: str, session: SessionDep, ctx: AdminCtx, version: Microversion
) -> dict[str, Any]:
    """The hypervisor's uptime (until 2.87: from 2.88 it is part of show)."""
    if version.at_least("2.88"):
        raise APIError(404, _GONE)
    host = await _get(session, version, hypervisor_id)
    now = utcnow()
    body = _summary(host, version, now)
    body["uptime"] = _uptime(host, now)
    return {"hypervisor": body}


@router.get("/os-hypervisors/{pattern}/search")
async def search_hypervisors(
    pattern: str, session: SessionDep, ctx: AdminCtx, version: Microversion
) -> dict[str, Any]:
    """Before 2.53: hypervisors whose name contains ``pattern``."""
    if version.at_least("2.53"):
        raise APIError(404, "Use hypervisor_hostname_pattern from microversion 2.53.")
    query = select(Host).where(Host.name.contains(pattern, autoescape=True)).order_by(Host.id)
    hosts = (await session.scalars(query)).all()
    if not hosts:
        raise APIError(404, f"No hypervisor matching '{pattern}' could be found.")
    now = utcnow()
    return {"hypervisors": [_summary(h, version, now) for h in hosts]}


@router.get("/os-hypervisors/{pattern}/servers")
async def hypervisor_servers(
    pattern: str, session: SessionDep, ctx: AdminCtx, version: Microversion
) -> dict[str, Any]:
    """Before 2.53: hypervisors whose name contains ``pattern``, each with its servers
    (``servers`` only where there are some, as Nova)."""
    if version.at_least("2.53"):
        raise APIError(404, "Use with_servers from microversion 2.53.")
    query = select(Host).where(Host.name.contains(pattern, autoescape=True)).order_by(Host.id)
    hosts = list((await session.scalars(query)).all())
    if not hosts:
        raise APIError(404, f"No hypervisor matching '{pattern}' could be found.")
    now = utcnow()
    bodies = [_summary(h, version, now) for h in hosts]
    servers = await _servers_by_host(session, hosts)
    for host, body in zip(hosts, bodies, strict=True):
        if servers[host.name]:
            body["servers"] = servers[host.name]
    return {"hypervisors": bodies}
