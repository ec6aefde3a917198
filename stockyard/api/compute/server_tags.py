"""Server tags (Nova's os-server-tags, microversion 2.26+).

Nova's rules: a tag is 1 to 60 characters without ``/`` or ``,``; a server holds at most
50; changes are refused with 409 unless the server is in a settled vm_state; adding a
tag answers 201 with its ``Location`` when new and 204 when it was already there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Body, Response

from stockyard.api.compute.server_common import ensure_unlocked, load_server
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Instance
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.states import VmState

router = APIRouter()

MAX_TAGS = 50
MAX_TAG_LENGTH = 60
# Nova's list also has paused, suspended and shelved, which Stockyard has no way into.
_SETTLED_NAMES = {VmState.ACTIVE.value, VmState.STOPPED.value}


def _require(version: APIVersion) -> None:
    if not version.at_least("2.26"):
        raise APIError(404, "The resource could not be found.")


def _check_tag(tag: Any, field: str = "tag") -> str:
    if not isinstance(tag, str) or not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise APIError(
            400,
            f"Invalid input for field/attribute {field}. Value: {tag!r}. "
            f"It must be a string of 1 to {MAX_TAG_LENGTH} characters.",
        )
    if "/" in tag or "," in tag:
        raise APIError(
            400,
            f"Invalid input for field/attribute {field}. Value: {tag!r}. "
            "It must not contain '/' or ','.",
        )
    return tag


async def _for_change(
    session: SessionDep, ctx: RequestContext, server_id: str, action: str
) -> Instance:
    inst = await load_server(session, ctx, server_id, for_update=True)
    ensure_unlocked(ctx, inst)
    if inst.vm_state not in _SETTLED_NAMES:
        raise APIError(
            409,
            f"Cannot '{action}' instance {server_id} while it is in vm_state {inst.vm_state}",
        )
    return inst


def _too_many() -> APIError:
    return APIError(400, f"The number of tags exceeded the per-server limit {MAX_TAGS}")


@router.get("/servers/{server_id}/tags")
async def list_tags(
    server_id: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> dict[str, Any]:
    _require(version)
    inst = await load_server(session, ctx, server_id)
    return {"tags": list(inst.tags or [])}


@router.put("/servers/{server_id}/tags")
async def replace_tags(
    server_id: str,
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
    body: Any = Body(None),
) -> dict[str, Any]:
    _require(version)
    if not isinstance(body, dict) or set(body) != {"tags"} or not isinstance(body["tags"], list):
        raise APIError(
            400, "Invalid input for field/attribute tags. The body must be {'tags': [...]}."
        )
    tags = [_check_tag(t, "tags") for t in body["tags"]]
    if len(tags) > MAX_TAGS:
        raise _too_many()
    inst = await _for_change(session, ctx, server_id, "update tags")
    inst.tags = list(dict.fromkeys(tags))
    await session.commit()
    return {"tags": list(inst.tags)}


@router.delete("/servers/{server_id}/tags", status_code=204)
async def delete_all_tags(
    server_id: str, session: SessionDep, ctx: WriterCtx, version: Microversion
) -> Response:
    _require(version)
    inst = await _for_change(session, ctx, server_id, "delete tags")
    inst.tags = []
    await session.commit()
    return Response(status_code=204)


@router.get("/servers/{server_id}/tags/{tag}", status_code=204)
async def check_tag(
    server_id: str, tag: str, session: SessionDep, ctx: ProjectCtx, version: Microversion
) -> Response:
    _require(version)
    inst = await load_server(session, ctx, server_id)
    if tag not in (inst.tags or []):
        raise APIError(404, f"Server {server_id} has no tag '{tag}'")
    return Response(status_code=204)


@router.put("/servers/{server_id}/tags/{tag}", response_model=None)
async def add_tag(
    server_id: str,
    tag: str,
    state: StateDep,
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
) -> Response:
    _require(version)
    _check_tag(tag)
    inst = await _for_change(session, ctx, server_id, "update tag")
    tags = list(inst.tags or [])
    if tag in tags:
        return Response(status_code=204)
    if len(tags) >= MAX_TAGS:
        raise _too_many()
    inst.tags = [*tags, tag]
    await session.commit()
    location = (
        f"{state.settings.base_url}/compute/v2.1/servers/{server_id}/tags/{quote(tag, safe='')}"
    )
    return Response(status_code=201, headers={"Location": location})


@router.delete("/servers/{server_id}/tags/{tag}", status_code=204)
async def delete_tag(
    server_id: str, tag: str, session: SessionDep, ctx: WriterCtx, version: Microversion
) -> Response:
    _require(version)
    inst = await _for_change(session, ctx, server_id, "delete tag")
    tags = list(inst.tags or [])
    if tag not in tags:
        raise APIError(404, f"Server {server_id} has no tag '{tag}'")
    inst.tags = [t for t in tags if t != tag]
    await session.commit()
    return Response(status_code=204)
