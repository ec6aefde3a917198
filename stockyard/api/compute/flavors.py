"""Flavors: list, show, create, update (description), delete, with Nova's body per version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute.common import (
    MAX_INT,
    BoolLike,
    IntLike,
    commit_or_conflict,
    links,
    paginate,
    parse_body,
    parse_bool,
    parse_limit,
)
from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import AdminCtx, Microversion, ProjectCtx, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Flavor, FlavorAccess
from stockyard.identity.context import RequestContext

router = APIRouter()

# Nova's sort keys mapped to our columns (Nova's column names differ: memory_mb, root_gb).
_SORT_KEYS = {
    "flavorid": Flavor.flavorid,
    "id": Flavor.id,
    "name": Flavor.name,
    "memory_mb": Flavor.ram,
    "root_gb": Flavor.disk,
    "ephemeral_gb": Flavor.ephemeral,
    "vcpus": Flavor.vcpus,
    "swap": Flavor.swap,
    "rxtx_factor": Flavor.rxtx_factor,
    "is_public": Flavor.is_public,
    "disabled": Flavor.disabled,
    "description": Flavor.description,
    "created_at": Flavor.created_at,
}
_FLAVOR_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- ")


class FlavorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    name: str = Field(min_length=1, max_length=255)
    id: str | int | None = None
    ram: IntLike = Field(ge=1, le=MAX_INT)
    vcpus: IntLike = Field(ge=1, le=MAX_INT)
    disk: IntLike = Field(ge=0, le=MAX_INT)
    ephemeral: IntLike = Field(default=0, ge=0, le=MAX_INT, alias="OS-FLV-EXT-DATA:ephemeral")
    swap: IntLike = Field(default=0, ge=0, le=MAX_INT)
    rxtx_factor: float = Field(default=1.0, gt=0, le=3.40282e38)
    is_public: BoolLike = Field(default=True, alias="os-flavor-access:is_public")
    description: str | None = Field(default=None, max_length=65535)


class FlavorCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flavor: FlavorCreate


class FlavorUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(max_length=65535)


class FlavorUpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flavor: FlavorUpdate


def flavor_view(
    flavor: Flavor, version: APIVersion, base_url: str, *, detail: bool = True
) -> dict[str, Any]:
    """Nova's flavor body at ``version``; ``detail=False`` is the short list form."""
    body: dict[str, Any] = {
        "id": flavor.flavorid,
        "name": flavor.name,
        "links": links(base_url, None, "flavors", flavor.flavorid),
    }
    if version.at_least("2.55"):
        body["description"] = flavor.description
    if not detail:
        return body
    body.update(
        {
            "ram": flavor.ram,
            "vcpus": flavor.vcpus,
            "disk": flavor.disk,
            "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral,
            "OS-FLV-DISABLED:disabled": flavor.disabled,
            "os-flavor-access:is_public": flavor.is_public,
            # Before 2.75 Nova shows an unset swap as an empty string.
            "swap": flavor.swap if flavor.swap or version.at_least("2.75") else "",
            "rxtx_factor": flavor.rxtx_factor,
        }
    )
    if version.at_least("2.61"):
        body["extra_specs"] = dict(flavor.extra_specs or {})
    return body


async def get_flavor(session: AsyncSession, ctx: RequestContext, flavor_id: str) -> Flavor:
    """The flavor if the caller may see it; 404 otherwise (a private flavor is not leaked)."""
    flavor = await session.scalar(select(Flavor).where(Flavor.flavorid == flavor_id))
    if flavor is not None and (flavor.is_public or ctx.is_admin):
        return flavor
    if flavor is not None and ctx.project_id:
        access = await session.scalar(
            select(FlavorAccess.id).where(
                FlavorAccess.flavor_id == flavor.id, FlavorAccess.project_id == ctx.project_id
            )
        )
        if access is not None:
            return flavor
    raise APIError(404, flavor_not_found(flavor_id))


def flavor_not_found(flavor_id: str) -> str:
    return f"Flavor {flavor_id} could not be found."


def _int_query(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise APIError(400, f"Invalid {name} filter [{raw}]") from None


def _at_least(column: Any, value: int | None) -> ColumnElement[bool] | None:
    """``column >= value``, or its outcome where the database cannot compare: every flavor has
    ram and disk in 0..MAX_INT (an INTEGER column: PostgreSQL refuses a bigger parameter)."""
    if value is None or value <= 0:
        return None
    return column >= value if value <= MAX_INT else false()


async def _list(
    session: AsyncSession,
    ctx: RequestContext,
    is_public: str | None,
    min_ram: str | None,
    min_disk: str | None,
    sort_key: str,
    sort_dir: str,
) -> list[Flavor]:
    if sort_key not in _SORT_KEYS:
        raise APIError(400, f"Invalid input for query parameter sort_key: {sort_key!r}")
    if sort_dir not in ("asc", "desc"):
        raise APIError(400, f"Invalid input for query parameter sort_dir: {sort_dir!r}")
    column = _SORT_KEYS[sort_key]
    query = select(Flavor).order_by(column.asc() if sort_dir == "asc" else column.desc())
    query = query.order_by(Flavor.id.asc())
    public: bool | None = True
    if ctx.is_admin and is_public is not None:
        # Admins may ask for all flavors with is_public=none, as Nova allows.
        public = None if is_public.lower() == "none" else parse_bool("is_public", is_public)
    if not ctx.is_admin:
        query = query.where(Flavor.disabled.is_(False))
    if public is True:
        accessible = select(FlavorAccess.flavor_id).where(
            FlavorAccess.project_id == (ctx.project_id or "")
        )
        query = query.where(or_(Flavor.is_public.is_(True), Flavor.id.in_(accessible)))
    elif public is False:
        query = query.where(Flavor.is_public.is_(False))
    for clause in (
        _at_least(Flavor.ram, _int_query("minRam", min_ram)),
        _at_least(Flavor.disk, _int_query("minDisk", min_disk)),
    ):
        if clause is not None:
            query = query.where(clause)
    return list((await session.scalars(query)).all())


ListQuery = Annotated[str | None, Query()]


@dataclass(frozen=True)
class FlavorListParams:
    """The query of ``GET /flavors`` and ``GET /flavors/detail`` (Nova's names)."""

    is_public: str | None
    min_ram: str | None
    min_disk: str | None
    limit: str | None
    marker: str | None
    sort_key: str
    sort_dir: str


async def _list_params(
    is_public: ListQuery = None,
    min_ram: Annotated[str | None, Query(alias="minRam")] = None,
    min_disk: Annotated[str | None, Query(alias="minDisk")] = None,
    limit: ListQuery = None,
    marker: ListQuery = None,
    sort_key: str = "flavorid",
    sort_dir: str = "asc",
) -> FlavorListParams:
    return FlavorListParams(is_public, min_ram, min_disk, limit, marker, sort_key, sort_dir)


ListParams = Annotated[FlavorListParams, Depends(_list_params)]


async def _listing(
    session: AsyncSession,
    ctx: RequestContext,
    version: APIVersion,
    base_url: str,
    params: FlavorListParams,
    *,
    detail: bool,
) -> dict[str, Any]:
    flavors = await _list(
        session,
        ctx,
        params.is_public,
        params.min_ram,
        params.min_disk,
        params.sort_key,
        params.sort_dir,
    )
    limit = parse_limit(params.limit)
    page = paginate(flavors, "flavorid", params.marker, limit)
    body: dict[str, Any] = {
        "flavors": [flavor_view(f, version, base_url, detail=detail) for f in page]
    }
    if limit and len(page) == limit and page:
        body["flavors_links"] = [
            {
                "rel": "next",
                "href": f"{base_url}/compute/v2.1/flavors{'/detail' if detail else ''}"
                f"?limit={limit}&marker={page[-1].flavorid}",
            }
        ]
    return body


@router.get("/flavors")
async def list_flavors(
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    state: StateDep,
    params: ListParams,
) -> dict[str, Any]:
    """Flavors the caller may use (id, name, links), filtered and paginated as Nova's."""
    base = state.settings.base_url
    return await _listing(session, ctx, version, base, params, detail=False)


@router.get("/flavors/detail")
async def list_flavors_detail(
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    state: StateDep,
    params: ListParams,
) -> dict[str, Any]:
    """As ``GET /flavors`` with every field of each flavor."""
    base = state.settings.base_url
    return await _listing(session, ctx, version, base, params, detail=True)


@router.get("/flavors/{flavor_id}")
async def show_flavor(
    flavor_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion, state: StateDep
) -> dict[str, Any]:
    flavor = await get_flavor(session, ctx, flavor_id)
    return {"flavor": flavor_view(flavor, version, state.settings.base_url)}


def _check_flavor_id(raw: str | int | None) -> str:
    if raw is None:
        return str(uuid.uuid4())
    flavor_id = str(raw)
    if (
        not flavor_id
        or len(flavor_id) > 255
        or flavor_id != flavor_id.strip()
        or not set(flavor_id) <= _FLAVOR_ID_CHARS
    ):
        raise APIError(
            400,
            f"Invalid input for field/attribute id. Value: {raw!r}. Flavor id may only hold "
            "letters, digits, '.', '_', '-' and inner spaces, 1 to 255 characters.",
        )
    return flavor_id


@router.post("/flavors")
async def create_flavor(
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    state: StateDep,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Admin: create a flavor; the id is generated when absent or null."""
    req = parse_body(FlavorCreateBody, body).flavor
    if req.description is not None and not version.at_least("2.55"):
        raise APIError(
            400, "Invalid input for field/attribute description: needs microversion 2.55."
        )
    name = req.name
    if name != name.strip() or not name.isprintable():
        raise APIError(
            400,
            f"Invalid input for field/attribute name. Value: {name!r}. Leading or trailing "
            "whitespace and control characters are not allowed.",
        )
    flavor_id = _check_flavor_id(req.id)
    if await session.scalar(select(Flavor.id).where(Flavor.name == name)) is not None:
        raise APIError(409, f"Flavor with name {name} already exists.")
    if await session.scalar(select(Flavor.id).where(Flavor.flavorid == flavor_id)) is not None:
        raise APIError(409, f"Flavor with ID {flavor_id} already exists.")
    flavor = Flavor(
        flavorid=flavor_id,
        name=name,
        ram=req.ram,
        vcpus=req.vcpus,
        disk=req.disk,
        ephemeral=req.ephemeral,
        swap=req.swap,
        rxtx_factor=req.rxtx_factor,
        is_public=req.is_public,
        disabled=False,
        description=req.description,
        extra_specs={},
    )
    session.add(flavor)
    await commit_or_conflict(session, f"Flavor with name {name} or ID {flavor_id} already exists.")
    return {"flavor": flavor_view(flavor, version, state.settings.base_url)}


@router.put("/flavors/{flavor_id}")
async def update_flavor(
    flavor_id: str,
    session: SessionDep,
    ctx: AdminCtx,
    version: Microversion,
    state: StateDep,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Admin, 2.55+: only the description of a flavor can change."""
    if not version.at_least("2.55"):
        raise APIError(405, "Updating a flavor needs microversion 2.55.")
    req = parse_body(FlavorUpdateBody, body).flavor
    flavor = await get_flavor(session, ctx, flavor_id)
    flavor.description = req.description
    await session.commit()
    return {"flavor": flavor_view(flavor, version, state.settings.base_url)}


@router.delete("/flavors/{flavor_id}", status_code=202)
async def delete_flavor(flavor_id: str, session: SessionDep, ctx: AdminCtx) -> Response:
    """Admin: delete a flavor; servers keep their snapshot of it."""
    flavor = await get_flavor(session, ctx, flavor_id)
    await delete_or_404(session, flavor, flavor_not_found(flavor_id))
    await session.commit()
    return Response(status_code=202)
