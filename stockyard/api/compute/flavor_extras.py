"""Flavor extra specs (``os-extra_specs``) and access lists (``os-flavor-access``)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.flavor_spec_rules import validate as validate_spec
from stockyard.api.compute.flavors import get_flavor
from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import AdminCtx, Microversion, ProjectCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Flavor, FlavorAccess

router = APIRouter()

_KEY = re.compile(r"^[a-zA-Z0-9-_:. /]{1,255}$")


def _spec_value(key: str, value: Any) -> str:
    """Nova stores every extra-spec value as a string; numbers and bools are converted."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str | int | float):
        text = str(value)
        if len(text) <= 255:
            return text
    raise APIError(
        400,
        f"Invalid input for field/attribute extra_specs.{key}. Value: {value!r}. "
        "A string of at most 255 characters is required.",
    )


def _validated_specs(body: Any, root: str | None, version: APIVersion) -> dict[str, str]:
    specs = body.get(root) if root and isinstance(body, dict) else body
    if not isinstance(specs, dict) or (root and set(body) != {root}):
        raise APIError(
            400,
            f"Invalid input for field/attribute {root or 'body'}: an object of "
            "key/value pairs is required.",
        )
    out: dict[str, str] = {}
    for key, value in specs.items():
        if not _KEY.match(key):
            raise APIError(
                400,
                f"Invalid input for field/attribute extra_specs. Key {key!r} must be 1 to 255 "
                "letters, digits, '-', '_', ':', '.', '/' or spaces.",
            )
        out[key] = _spec_value(key, value)
        if version.at_least("2.86"):
            validate_spec(key, out[key])
    return out


@router.get("/flavors/{flavor_id}/os-extra_specs")
async def list_specs(flavor_id: str, session: SessionDep, ctx: ProjectCtx) -> dict[str, Any]:
    flavor = await get_flavor(session, ctx, flavor_id)
    return {"extra_specs": dict(flavor.extra_specs or {})}


@router.post("/flavors/{flavor_id}/os-extra_specs")
async def set_specs(
    flavor_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Admin: merge the given specs into the flavor's (checked by Nova's rules from 2.86)."""
    specs = _validated_specs(body, "extra_specs", version)
    flavor = await get_flavor(session, ctx, flavor_id)
    # A new dict, so the JSON column is seen as changed.
    flavor.extra_specs = {**(flavor.extra_specs or {}), **specs}
    await session.commit()
    return {"extra_specs": specs}


@router.get("/flavors/{flavor_id}/os-extra_specs/{key}")
async def show_spec(
    flavor_id: str, key: str, session: SessionDep, ctx: ProjectCtx
) -> dict[str, Any]:
    flavor = await get_flavor(session, ctx, flavor_id)
    specs = flavor.extra_specs or {}
    if key not in specs:
        raise APIError(404, f"Flavor {flavor_id} has no extra specs with key {key}.")
    return {key: specs[key]}


@router.put("/flavors/{flavor_id}/os-extra_specs/{key}")
async def update_spec(
    flavor_id: str,
    key: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Admin: set one spec; the body holds exactly that key."""
    specs = _validated_specs(body, None, version)
    if set(specs) != {key}:
        raise APIError(400, "Request body and URI mismatch")
    flavor = await get_flavor(session, ctx, flavor_id)
    flavor.extra_specs = {**(flavor.extra_specs or {}), **specs}
    await session.commit()
    return specs


# Nova answers 200 with no body (api-ref; Tempest's unset_flavor_extra_specs schema).
@router.delete("/flavors/{flavor_id}/os-extra_specs/{key}", status_code=200)
async def delete_spec(flavor_id: str, key: str, session: SessionDep, ctx: AdminCtx) -> Response:
    flavor = await get_flavor(session, ctx, flavor_id)
    specs = dict(flavor.extra_specs or {})
    if key not in specs:
        raise APIError(404, f"Flavor {flavor_id} has no extra specs with key {key}.")
    del specs[key]
    flavor.extra_specs = specs
    await session.commit()
    return Response(status_code=200)


async def _access_list(session: AsyncSession, flavor: Flavor) -> dict[str, Any]:
    rows = await session.scalars(
        select(FlavorAccess.project_id)
        .where(FlavorAccess.flavor_id == flavor.id)
        .order_by(FlavorAccess.id)
    )
    return {"flavor_access": [{"flavor_id": flavor.flavorid, "tenant_id": p} for p in rows.all()]}


@router.get("/flavors/{flavor_id}/os-flavor-access")
async def list_access(flavor_id: str, session: SessionDep, ctx: AdminCtx) -> dict[str, Any]:
    """Admin: the projects that may use a private flavor."""
    flavor = await get_flavor(session, ctx, flavor_id)
    if flavor.is_public:
        raise APIError(404, "Access list not available for public flavors.")
    return await _access_list(session, flavor)


def _tenant(body: Any, action: str) -> str:
    inner = body.get(action) if isinstance(body, dict) else None
    tenant = inner.get("tenant") if isinstance(inner, dict) else None
    if not isinstance(inner, dict) or not isinstance(tenant, str) or not 1 <= len(tenant) <= 255:
        raise APIError(
            400, f"Invalid input for field/attribute {action}.tenant: a project id is required."
        )
    if set(inner) != {"tenant"}:
        raise APIError(400, f"Additional properties are not allowed in {action}.")
    return tenant


@router.post("/flavors/{flavor_id}/action")
async def flavor_action(
    flavor_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Admin: ``addTenantAccess`` / ``removeTenantAccess`` on a private flavor."""
    if not isinstance(body, dict) or len(body) != 1:
        raise APIError(400, "Exactly one action (addTenantAccess or removeTenantAccess) needed.")
    action = next(iter(body))
    if action not in ("addTenantAccess", "removeTenantAccess"):
        raise APIError(400, f"There is no such action: {action}")
    tenant = _tenant(body, action)
    flavor = await get_flavor(session, ctx, flavor_id)
    existing = await session.scalar(
        select(FlavorAccess).where(
            FlavorAccess.flavor_id == flavor.id, FlavorAccess.project_id == tenant
        )
    )
    if action == "addTenantAccess":
        if flavor.is_public:
            raise APIError(409, "Can not add access to a public flavor.")
        if existing is not None:
            raise APIError(
                409,
                f"Flavor access already exists for flavor {flavor_id} and project {tenant} "
                "combination.",
            )
        session.add(FlavorAccess(flavor_id=flavor.id, project_id=tenant))
    else:
        missing = f"Flavor access not found for {flavor_id} / {tenant} combination."
        if existing is None:
            raise APIError(404, missing)
        await delete_or_404(session, existing, missing)
    await session.flush()
    result = await _access_list(session, flavor)
    await session.commit()
    return result
