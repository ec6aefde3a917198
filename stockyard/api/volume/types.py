"""Volume types (admin CRUD, members read public ones), their extra specs and the
default type ``__DEFAULT__``, which every cloud has (made on first use)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import AdminCtx, ProjectCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.volume.common import body_of, parse_bool
from stockyard.api.volume.views import type_view
from stockyard.db.models import Volume, VolumeSnapshot, VolumeType, VolumeTypeProject
from stockyard.identity.context import RequestContext

DEFAULT_TYPE = "__DEFAULT__"
router = APIRouter()


async def default_type(session: AsyncSession) -> VolumeType:
    """The ``__DEFAULT__`` type, created the first time anyone needs it."""
    found = await session.scalar(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE))
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            vtype = VolumeType(name=DEFAULT_TYPE, description="Default Volume Type")
            session.add(vtype)
    except IntegrityError:  # another request made it first
        vtype = (
            await session.scalars(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE))
        ).one()
    return vtype


async def find_type(session: AsyncSession, ctx: RequestContext, ref: str) -> VolumeType:
    """A type by id or name (as volume create accepts), visible to the caller."""
    vtype = await session.get(VolumeType, ref)
    if vtype is None:
        vtype = await session.scalar(select(VolumeType).where(VolumeType.name == ref))
    if vtype is None and ref == DEFAULT_TYPE:
        vtype = await default_type(session)
    if vtype is None or not await visible(session, ctx, vtype):
        raise APIError(404, f"Volume type with name {ref} could not be found.")
    return vtype


async def visible(session: AsyncSession, ctx: RequestContext, vtype: VolumeType) -> bool:
    """Public types are everyone's; a private one is its admins' and given projects'."""
    if vtype.is_public or ctx.is_admin:
        return True
    given = await session.get(VolumeTypeProject, (vtype.id, ctx.project_id or ""))
    return given is not None


def _visible_clause(ctx: RequestContext) -> ColumnElement[bool]:
    given = select(VolumeTypeProject.volume_type_id).where(
        VolumeTypeProject.project_id == (ctx.project_id or "")
    )
    return or_(VolumeType.is_public.is_(True), VolumeType.id.in_(given))


async def get_type(session: AsyncSession, ctx: RequestContext, type_id: str) -> VolumeType:
    """The type ``type_id`` if the caller may see it, else Cinder's 404."""
    vtype = await session.get(VolumeType, type_id)
    if vtype is None and type_id == DEFAULT_TYPE:
        vtype = await default_type(session)
    if vtype is None or not await visible(session, ctx, vtype):
        raise APIError(404, not_found(type_id))
    return vtype


def not_found(type_id: str) -> str:
    return f"Volume type {type_id} could not be found."


def _specs(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise APIError(400, "Malformed extra specs: extra_specs must be a dict.")
    for key, spec in value.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise APIError(400, "Invalid input received: extra spec keys are 1 to 255 characters.")
        if not isinstance(spec, str | int | float | bool) or len(str(spec)) > 255:
            raise APIError(400, f"Invalid input received: extra spec {key} must be a string.")
    return {k: str(v) for k, v in value.items()}


@router.get("/types")
async def list_types(ctx: ProjectCtx, session: SessionDep, request: Request) -> dict[str, Any]:
    await default_type(session)
    await session.commit()
    stmt = select(VolumeType).order_by(VolumeType.name)
    wanted = request.query_params.get("is_public")
    # Cinder's: public types and the private ones given to the caller's project; an
    # admin may ask for private ones only (false) or for every type ("none").
    if not ctx.is_admin or wanted is None:
        stmt = stmt.where(_visible_clause(ctx))
    elif wanted.lower() != "none":
        stmt = stmt.where(VolumeType.is_public.is_(parse_bool(wanted, "is_public")))
    return {"volume_types": [type_view(t, ctx) for t in await session.scalars(stmt)]}


@router.get("/types/default")
async def show_default(ctx: ProjectCtx, session: SessionDep) -> dict[str, Any]:
    vtype = await default_type(session)
    await session.commit()
    return {"volume_type": type_view(vtype, ctx)}


@router.get("/types/{type_id}")
async def show_type(type_id: str, ctx: ProjectCtx, session: SessionDep) -> dict[str, Any]:
    vtype = await get_type(session, ctx, type_id)
    await session.commit()
    return {"volume_type": type_view(vtype, ctx)}


@router.post("/types")
async def create_type(ctx: AdminCtx, session: SessionDep, body: Any = Body(None)) -> dict[str, Any]:
    data = body_of(body, "volume_type")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise APIError(400, "Volume type name can not be empty.")
    description = data.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise APIError(
            400, "Invalid input received: description must be a string of at most 255 characters."
        )
    is_public = parse_bool(data.get("os-volume-type-access:is_public", True), "is_public")
    specs = _specs(data.get("extra_specs") or {})
    if await session.scalar(select(VolumeType.id).where(VolumeType.name == name)):
        raise APIError(409, f"Volume Type {name} already exists.")
    vtype = VolumeType(name=name, description=description, is_public=is_public, extra_specs=specs)
    session.add(vtype)
    await session.commit()
    return {"volume_type": type_view(vtype, ctx, created=True)}


@router.put("/types/{type_id}")
async def update_type(
    type_id: str, ctx: AdminCtx, session: SessionDep, body: Any = Body(None)
) -> dict[str, Any]:
    data = body_of(body, "volume_type")
    vtype = await get_type(session, ctx, type_id)
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not name.strip():
            raise APIError(400, "Volume type name can not be empty.")
        if vtype.name == DEFAULT_TYPE and name != DEFAULT_TYPE:
            raise APIError(400, "The default volume type cannot be renamed.")
        clash = await session.scalar(
            select(VolumeType.id).where(VolumeType.name == name, VolumeType.id != vtype.id)
        )
        if clash:
            raise APIError(409, f"Volume Type {name} already exists.")
        vtype.name = name
    if "description" in data:
        vtype.description = data["description"]
    if "is_public" in data:
        vtype.is_public = parse_bool(data["is_public"], "is_public")
    await session.commit()
    return {"volume_type": type_view(vtype, ctx, updated=True)}


@router.delete("/types/{type_id}", status_code=202, response_class=Response)
async def delete_type(type_id: str, ctx: AdminCtx, session: SessionDep) -> None:
    vtype = await get_type(session, ctx, type_id)
    if vtype.name == DEFAULT_TYPE:
        raise APIError(400, "Default volume type can not be deleted.")
    used = await session.scalar(
        select(func.count()).select_from(Volume).where(Volume.volume_type_id == vtype.id)
    )
    used_by_snaps = await session.scalar(
        select(func.count())
        .select_from(VolumeSnapshot)
        .where(VolumeSnapshot.volume_type_id == vtype.id)
    )
    if used or used_by_snaps:
        raise APIError(400, "Target volume type is still in use.")
    await delete_or_404(session, vtype, not_found(type_id))
    await session.commit()


@router.get("/types/{type_id}/extra_specs")
async def list_specs(type_id: str, ctx: AdminCtx, session: SessionDep) -> dict[str, Any]:
    vtype = await get_type(session, ctx, type_id)
    return {"extra_specs": dict(vtype.extra_specs or {})}


@router.post("/types/{type_id}/extra_specs")
async def add_specs(
    type_id: str, ctx: AdminCtx, session: SessionDep, body: Any = Body(None)
) -> dict[str, Any]:
    if not isinstance(body, dict) or "extra_specs" not in body:
        raise APIError(400, "Missing required element 'extra_specs' in request body.")
    specs = _specs(body["extra_specs"])
    vtype = await get_type(session, ctx, type_id)
    vtype.extra_specs = {**(vtype.extra_specs or {}), **specs}
    await session.commit()
    return {"extra_specs": specs}


@router.get("/types/{type_id}/extra_specs/{key}")
async def show_spec(type_id: str, key: str, ctx: AdminCtx, session: SessionDep) -> dict[str, Any]:
    vtype = await get_type(session, ctx, type_id)
    if key not in (vtype.extra_specs or {}):
        raise APIError(404, f"Volume Type {type_id} has no extra specs with key {key}.")
    return {key: vtype.extra_specs[key]}


@router.put("/types/{type_id}/extra_specs/{key}")
async def update_spec(
    type_id: str, key: str, ctx: AdminCtx, session: SessionDep, body: Any = Body(None)
) -> dict[str, Any]:
    if not isinstance(body, dict) or key not in body:
        raise APIError(400, "Request body and URI mismatch")
    if len(body) > 1:
        raise APIError(400, "Request body contains too many items")
    spec = _specs(body)
    vtype = await get_type(session, ctx, type_id)
    vtype.extra_specs = {**(vtype.extra_specs or {}), **spec}
    await session.commit()
    return spec


@router.delete("/types/{type_id}/extra_specs/{key}", status_code=202, response_class=Response)
async def delete_spec(type_id: str, key: str, ctx: AdminCtx, session: SessionDep) -> None:
    vtype = await get_type(session, ctx, type_id)
    specs = dict(vtype.extra_specs or {})
    if key not in specs:
        raise APIError(404, f"Volume Type {type_id} has no extra specs with key {key}.")
    del specs[key]
    vtype.extra_specs = specs
    await session.commit()
