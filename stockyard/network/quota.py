"""Counting quotas for the Networking resources, as Neutron's DbQuotaDriver.

Usage is counted from the rows; limits are Neutron's defaults overridden per project in
``network_quotas``. A check takes the project's ``project_locks`` row FOR UPDATE (the
lock compute's quota checks use too), so two creates cannot both see 9 of 10; on SQLite
the lock-row insert opens the write transaction and the writer gate serialises it. The
caller inserts the counted row in the same transaction before committing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.limits import store_limits
from stockyard.db.models import (
    Network,
    NetworkQuota,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from stockyard.db.project_lock import lock_project
from stockyard.network.errors import BadRequest, invalid_attr, over_quota

# Neutron's defaults (neutron/conf/quota.py).
DEFAULTS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "port": 500,
    "security_group": 10,
    "security_group_rule": 100,
}
_MODELS: dict[str, Any] = {
    "network": Network,
    "subnet": Subnet,
    "port": Port,
    "security_group": SecurityGroup,
    "security_group_rule": SecurityGroupRule,
}


async def limits(session: AsyncSession, project_id: str) -> dict[str, int]:
    """The project's limits: defaults overridden by its rows."""
    out = dict(DEFAULTS)
    rows = await session.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id))
    for row in rows:
        if row.resource in out:
            out[row.resource] = row.hard_limit
    return out


async def usage(session: AsyncSession, project_id: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for resource, model in _MODELS.items():
        count = await session.scalar(
            select(func.count()).select_from(model).where(model.project_id == project_id)
        )
        out[resource] = int(count or 0)
    return out


async def check(session: AsyncSession, project_id: str, resource: str, delta: int = 1) -> None:
    """409 OverQuota when ``delta`` more of ``resource`` would pass the project's limit."""
    await lock_project(session, project_id)
    limit = (await limits(session, project_id))[resource]
    if limit < 0:
        return
    model = _MODELS[resource]
    count = await session.scalar(
        select(func.count()).select_from(model).where(model.project_id == project_id)
    )
    if int(count or 0) + delta > limit:
        raise over_quota(resource)


async def fits(session: AsyncSession, project_id: str, resource: str, delta: int = 1) -> bool:
    """Whether ``delta`` more of ``resource`` stay within the project's limit, without
    the project lock: for rows the placement flow creates in its own transaction (a
    server's ports), as Neutron's lock-free quota driver. Exact on SQLite (one writer);
    on the server backends two schedulers' concurrent bursts can each take the last slot."""
    limit = (await limits(session, project_id))[resource]
    if limit < 0:
        return True
    model = _MODELS[resource]
    count = await session.scalar(
        select(func.count()).select_from(model).where(model.project_id == project_id)
    )
    return int(count or 0) + delta <= limit


def parse_update(body: Any) -> tuple[dict[str, int], bool]:
    """The ``quota`` object of a PUT: known resources, integers >= -1; and whether to
    check the new limits against usage (``check_limit``, quota-check-limit; ``force``
    turns it off)."""
    out: dict[str, int] = {}
    check_limit = bool(body.get("check_limit")) and not bool(body.get("force"))
    for key, value in body.items():
        if key in ("check_limit", "force"):
            continue
        if key not in DEFAULTS:
            raise invalid_attr(key, f"Unrecognized attribute(s) '{key}'")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise invalid_attr(key, f"'{value}' is not an integer") from None
        if isinstance(value, bool) or number < -1:
            raise invalid_attr(key, f"'{value}' should be non-negative or -1")
        out[key] = number
    return out, check_limit


async def check_limits(session: AsyncSession, project_id: str, values: dict[str, int]) -> None:
    """400 when a new limit is below what the project already uses."""
    used = await usage(session, project_id)
    for resource, limit in values.items():
        if 0 <= limit < used[resource]:
            raise BadRequest(
                f"Quota limit {limit} for {resource} must be greater than or equal to "
                f"already used and reserved {used[resource]}.",
                type="InvalidQuotaValue",
            )


async def set_limits(session: AsyncSession, project_id: str, values: dict[str, int]) -> None:
    await store_limits(session, NetworkQuota, {"project_id": project_id}, values)


async def reset(session: AsyncSession, project_id: str) -> None:
    await session.execute(delete(NetworkQuota).where(NetworkQuota.project_id == project_id))


async def overridden_projects(session: AsyncSession) -> list[str]:
    rows = await session.scalars(select(NetworkQuota.project_id).distinct())
    return sorted(rows)
