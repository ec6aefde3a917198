"""``/v3/projects/{project_id}/tags``: Keystone's project tags (a project's ``tags``
attribute, also set by project create/update and filtered by ``tags``/``tags-any``)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import AdminCtx, Ctx, SessionDep
from stockyard.api.identity.route import identity_router
from stockyard.db.models import Project
from stockyard.identity import service
from stockyard.identity.context import RequestContext
from stockyard.identity.errors import BadRequest, Forbidden, NotFound

router = identity_router()

MAX_TAGS = 80  # Keystone's limit per project


class TagsRequest(BaseModel):
    tags: list[str]


def _check_tag(tag: str, field: str) -> str:
    if not tag or len(tag) > 255 or "/" in tag or "," in tag:
        raise BadRequest(
            f"Invalid input for field/attribute {field}: a tag has 1 to 255 characters, "
            f"none of them '/' or ','. Got {tag!r}."
        )
    return tag


def _tags(project: Project) -> list[str]:
    return list((project.extra or {}).get("tags", []))


def _set_tags(project: Project, tags: list[str]) -> None:
    if len(tags) > MAX_TAGS:
        raise BadRequest(
            f"Invalid input for field/attribute tags: at most {MAX_TAGS} tags per project."
        )
    project.extra = {**(project.extra or {}), "tags": tags}


async def _readable(session: AsyncSession, ctx: RequestContext, project_id: str) -> Project:
    if not ctx.is_admin and ctx.project_id != project_id:
        raise Forbidden("You are not authorized to perform the requested action.")
    return await service.get_project(session, project_id)


@router.get("/v3/projects/{project_id}/tags")
async def list_tags(project_id: str, ctx: Ctx, session: SessionDep) -> dict[str, Any]:
    return {"tags": _tags(await _readable(session, ctx, project_id))}


@router.put("/v3/projects/{project_id}/tags")
async def replace_tags(
    project_id: str, body: TagsRequest, ctx: AdminCtx, session: SessionDep
) -> dict[str, Any]:
    """Replace every tag of the project."""
    project = await service.get_project(session, project_id)
    tags = list(dict.fromkeys(_check_tag(t, "tags") for t in body.tags))
    _set_tags(project, tags)
    await session.commit()
    return {"tags": tags}


@router.delete("/v3/projects/{project_id}/tags", status_code=204)
async def delete_tags(project_id: str, ctx: AdminCtx, session: SessionDep) -> Response:
    project = await service.get_project(session, project_id)
    _set_tags(project, [])
    await session.commit()
    return Response(status_code=204)


@router.get("/v3/projects/{project_id}/tags/{tag}", status_code=204)
@router.head("/v3/projects/{project_id}/tags/{tag}", status_code=204)
async def check_tag(project_id: str, tag: str, ctx: Ctx, session: SessionDep) -> Response:
    """204 if the project has the tag, 404 if not."""
    if tag not in _tags(await _readable(session, ctx, project_id)):
        raise NotFound(f"Could not find tag: {tag}.")
    return Response(status_code=204)


@router.put("/v3/projects/{project_id}/tags/{tag}", status_code=201)
async def add_tag(project_id: str, tag: str, ctx: AdminCtx, session: SessionDep) -> Response:
    project = await service.get_project(session, project_id)
    tags = _tags(project)
    if _check_tag(tag, "tag") not in tags:
        _set_tags(project, [*tags, tag])
        await session.commit()
    return Response(status_code=201)


@router.delete("/v3/projects/{project_id}/tags/{tag}", status_code=204)
async def delete_tag(project_id: str, tag: str, ctx: AdminCtx, session: SessionDep) -> Response:
    project = await service.get_project(session, project_id)
    tags = _tags(project)
    if tag not in tags:
        raise NotFound(f"Could not find tag: {tag}.")
    _set_tags(project, [t for t in tags if t != tag])
    await session.commit()
    return Response(status_code=204)
