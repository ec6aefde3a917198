"""Quota class sets (admin): ``GET``/``PUT /os-quota-class-sets/{id}``.

As Nova, any class name may be read and written, but only the ``default`` class is
applied: its limits replace the configured defaults of every project without overrides
of its own (:func:`~stockyard.api.compute.quota_engine.project_limits`).

Resources shown per microversion (Nova's quota_classes.py): before 2.50 the network and
injected-file ones without the server group ones; 2.50 drops fixed_ips, floating_ips,
security_groups and security_group_rules and adds server_groups and
server_group_members; 2.57 drops the injected-file ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from sqlalchemy import select

from stockyard.api.compute.quota_engine import ALL_RESOURCES, class_limits
from stockyard.api.deps import AdminCtx, Microversion, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models.compute import QuotaClass

router = APIRouter()

_NETWORK = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
_FILES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
_GROUPS = ("server_groups", "server_group_members")
_MAX = 2**31 - 1


def _resources(version: APIVersion) -> list[str]:
    hidden: set[str] = set()
    if version.at_least("2.50"):
        hidden.update(_NETWORK)
    else:
        hidden.update(_GROUPS)
    if version.at_least("2.57"):
        hidden.update(_FILES)
    return [r for r in ALL_RESOURCES if r not in hidden]


def _check_id(class_id: str) -> None:
    if not 1 <= len(class_id) <= 255:
        raise APIError(400, "Invalid input for field/attribute id: 1 to 255 characters.")


@router.get("/os-quota-class-sets/{class_id}")
async def show_quota_class(
    class_id: str, session: SessionDep, ctx: AdminCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    _check_id(class_id)
    limits = await class_limits(session, state.settings, class_id)
    body: dict[str, Any] = {"id": class_id}
    body.update({r: limits[r] for r in _resources(version)})
    return {"quota_class_set": body}


def _parse(body: Any, version: APIVersion) -> dict[str, int]:
    inner = body.get("quota_class_set") if isinstance(body, dict) else None
    if not isinstance(inner, dict) or set(body) != {"quota_class_set"}:
        raise APIError(
            400, "Invalid input for field/attribute quota_class_set: an object is required."
        )
    allowed = set(_resources(version))
    values: dict[str, int] = {}
    for key, raw in inner.items():
        if key not in allowed:
            raise APIError(
                400,
                "Invalid input for field/attribute quota_class_set. Additional property "
                f"{key!r} is not allowed.",
            )
        value = raw
        if isinstance(raw, str) and raw.strip().lstrip("-").isdecimal():
            value = int(raw)
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= _MAX:
            raise APIError(
                400,
                f"Invalid input for field/attribute quota_class_set.{key}. Value: {raw!r}. "
                "An integer >= -1 is required.",
            )
        values[key] = value
    return values


@router.put("/os-quota-class-sets/{class_id}")
async def update_quota_class(
    class_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    state: StateDep,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Set some of the class's limits; the answer is all of them, without ``id``."""
    _check_id(class_id)
    values = _parse(body, version)
    existing = {
        row.resource: row
        for row in await session.scalars(
            select(QuotaClass).where(QuotaClass.class_name == class_id)
        )
    }
    for key, value in values.items():
        if key in existing:
            existing[key].hard_limit = value
        else:
            session.add(QuotaClass(class_name=class_id, resource=key, hard_limit=value))
    await session.flush()
    limits = await class_limits(session, state.settings, class_id)
    await session.commit()
    return {"quota_class_set": {r: limits[r] for r in _resources(version)}}
