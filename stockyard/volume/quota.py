"""Counting quotas for Block Storage, as Cinder's: ``volumes``, ``gigabytes`` (volumes and
snapshots), ``snapshots`` and their per-type twins ``volumes_<type>`` ...; ``backups``,
``backup_gigabytes``, ``groups`` and ``per_volume_gigabytes`` are kept and shown.

Usage is counted from the rows (an extending volume counts at its new size). Limits are
the settings' defaults, overridden by the ``default`` quota class (``volume_quota_classes``),
then per project in ``volume_quotas``; per-type ones default to -1, unlimited. A check
takes the project's ``project_locks`` row (the lock compute's and network's quota checks
use), so two creates cannot both see 9 of 10; the caller inserts or updates the counted
row in the same transaction before committing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import (
    Volume,
    VolumeQuota,
    VolumeQuotaClass,
    VolumeSnapshot,
    VolumeType,
)
from stockyard.db.project_lock import lock_project
from stockyard.settings import Settings

BASE_RESOURCES = (
    "volumes",
    "snapshots",
    "gigabytes",
    "backups",
    "backup_gigabytes",
    "groups",
    "per_volume_gigabytes",
)
PER_TYPE = ("volumes", "gigabytes", "snapshots")
DEFAULT_CLASS = "default"


class QuotaExceeded(Exception):
    """Over a limit; the message is Cinder's, the API answers 413."""


def default_limit(settings: Settings, resource: str) -> int:
    """The configured default of a base resource; per-type resources are unlimited."""
    if resource in BASE_RESOURCES:
        return int(getattr(settings, f"quota_{resource}"))
    return -1


def known_resources(type_names: list[str]) -> list[str]:
    """Every quota key of a project: the base ones, then three per volume type."""
    return [*BASE_RESOURCES, *(f"{r}_{t}" for t in type_names for r in PER_TYPE)]


async def type_names(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(VolumeType.name).order_by(VolumeType.name)))


async def class_limits(
    session: AsyncSession, settings: Settings, class_name: str = DEFAULT_CLASS
) -> dict[str, int]:
    """Every limit of a quota class: the configured defaults under the class's rows.
    The ``default`` class's are every project's defaults."""
    out = {r: default_limit(settings, r) for r in known_resources(await type_names(session))}
    await _override(session, out, VolumeQuotaClass, VolumeQuotaClass.class_name == class_name)
    return out


async def limits(session: AsyncSession, settings: Settings, project_id: str) -> dict[str, int]:
    """Every limit of the project (the default class's, its own overrides applied)."""
    out = await class_limits(session, settings)
    await _override(session, out, VolumeQuota, VolumeQuota.project_id == project_id)
    return out


async def _override(
    session: AsyncSession,
    out: dict[str, int],
    model: type[VolumeQuota] | type[VolumeQuotaClass],
    owner: ColumnElement[bool],
) -> None:
    rows = await session.execute(select(model.resource, model.hard_limit).where(owner))
    for resource, hard_limit in rows:
        if resource in out:
            out[resource] = hard_limit


async def usage(session: AsyncSession, project_id: str) -> dict[str, int]:
    """What the project uses now, per base and per-type resource."""
    names = dict((await session.execute(select(VolumeType.id, VolumeType.name))).all())
    out = {r: 0 for r in known_resources(sorted(names.values()))}
    size = func.coalesce(Volume.new_size, Volume.size)
    vol_rows = await session.execute(
        select(Volume.volume_type_id, func.count(), func.coalesce(func.sum(size), 0))
        .where(Volume.project_id == project_id)
        .group_by(Volume.volume_type_id)
    )
    snap_rows = await session.execute(
        select(
            VolumeSnapshot.volume_type_id,
            func.count(),
            func.coalesce(func.sum(VolumeSnapshot.size), 0),
        )
        .where(VolumeSnapshot.project_id == project_id)
        .group_by(VolumeSnapshot.volume_type_id)
    )
    for kind, rows in (("volumes", vol_rows), ("snapshots", snap_rows)):
        for type_id, count, gigabytes in rows:
            type_name = names.get(type_id)
            _add(out, kind, type_name, int(count))
            _add(out, "gigabytes", type_name, int(gigabytes))
    return out


def _add(out: dict[str, int], resource: str, type_name: str | None, amount: int) -> None:
    out[resource] += amount
    if type_name is not None:
        out[f"{resource}_{type_name}"] = out.get(f"{resource}_{type_name}", 0) + amount


@dataclass(frozen=True)
class Delta:
    """What an action adds to the project's usage."""

    volumes: int = 0
    snapshots: int = 0
    gigabytes: int = 0


async def check(
    session: AsyncSession,
    settings: Settings,
    project_id: str,
    type_name: str,
    delta: Delta,
    volume_size: int | None = None,
) -> None:
    """Raise :class:`QuotaExceeded` (Cinder's message) if ``delta`` passes a limit.

    ``volume_size`` is the size of the one volume made or grown, checked against
    ``per_volume_gigabytes``. Call before writing anything else in the transaction.
    """
    await lock_project(session, project_id)
    limit = await limits(session, settings, project_id)
    per_volume = limit["per_volume_gigabytes"]
    if volume_size is not None and 0 <= per_volume < volume_size:
        raise QuotaExceeded(
            f"Requested volume size {volume_size}G is larger than maximum allowed limit "
            f"{per_volume}G."
        )
    used = await usage(session, project_id)
    for base, amount in (
        ("volumes", delta.volumes),
        ("snapshots", delta.snapshots),
        ("gigabytes", delta.gigabytes),
    ):
        if amount <= 0:
            continue
        for name in (base, f"{base}_{type_name}"):
            allowed = limit.get(name, -1)
            if allowed < 0 or used.get(name, 0) + amount <= allowed:
                continue
            if base == "gigabytes":
                raise QuotaExceeded(
                    f"Requested volume or snapshot exceeds allowed {name} quota. Requested "
                    f"{amount}G, quota is {allowed}G and {used.get(name, 0)}G has been "
                    "consumed."
                )
            if base == "volumes":
                raise QuotaExceeded(
                    f"Maximum number of volumes allowed ({allowed}) exceeded for quota '{name}'."
                )
            raise QuotaExceeded(f"Maximum number of snapshots allowed ({allowed}) exceeded")
