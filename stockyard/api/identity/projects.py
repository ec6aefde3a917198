"""``/v3/projects``: admin CRUD; a member may read the project its token is scoped to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from stockyard.api.deps import AdminCtx, Ctx, SessionDep, StateDep
from stockyard.api.identity.filters import NameOps
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import ProjectCreateRequest, ProjectUpdateRequest
from stockyard.api.identity.views import collection_links, project_view
from stockyard.identity import service
from stockyard.identity.errors import BadRequest, Forbidden

router = identity_router()


@router.get("/v3/projects")
async def list_projects(
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
    name_ops: NameOps,
    name: str | None = None,
    domain_id: str | None = None,
    enabled: bool | None = None,
    parent_id: str | None = None,
    is_domain: bool | None = None,
    tags: str | None = None,
    tags_any: Annotated[str | None, Query(alias="tags-any")] = None,
    not_tags: Annotated[str | None, Query(alias="not-tags")] = None,
    not_tags_any: Annotated[str | None, Query(alias="not-tags-any")] = None,
) -> dict[str, Any]:
    """Every project, filtered as Keystone documents: name (and ``name__<op>``),
    domain_id, enabled, parent_id (projects are flat: the parent is the domain),
    is_domain (no project is a domain), and the four comma-separated tag filters."""
    base = state.settings.base_url
    if is_domain or (parent_id is not None and domain_id not in (None, parent_id)):
        return {"projects": [], "links": collection_links(base, "projects")}
    rows = await service.list_projects(
        session, name=name, domain_id=domain_id or parent_id, enabled=enabled, **name_ops
    )
    rows = [
        p
        for p in rows
        if _tags_match(set((p.extra or {}).get("tags", [])), tags, tags_any, not_tags, not_tags_any)
    ]
    return {
        "projects": [project_view(base, p) for p in rows],
        "links": collection_links(base, "projects"),
    }


def _split(value: str | None) -> set[str] | None:
    return None if value is None else {t for t in value.split(",") if t}


def _tags_match(
    have: set[str],
    tags: str | None,
    tags_any: str | None,
    not_tags: str | None,
    not_tags_any: str | None,
) -> bool:
    """Keystone: ``tags`` all of, ``tags-any`` one of, ``not-tags`` not all of,
    ``not-tags-any`` none of."""
    every, some = _split(tags), _split(tags_any)
    not_every, no_one = _split(not_tags), _split(not_tags_any)
    return (
        (every is None or every <= have)
        and (some is None or bool(some & have))
        and (not_every is None or not not_every <= have)
        and (no_one is None or not no_one & have)
    )


@router.post("/v3/projects", status_code=201)
async def create_project(
    body: ProjectCreateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    spec = body.project
    if spec.is_domain:
        raise BadRequest("Invalid input for field/attribute project.is_domain: must be false.")
    domain_id = spec.domain_id or ctx.domain_id
    if spec.parent_id is not None and spec.parent_id != domain_id:
        raise BadRequest(
            "Invalid input for field/attribute project.parent_id: projects are flat; "
            "the parent may only be the project's domain."
        )
    fields = spec.model_dump(exclude={"parent_id", "is_domain", "domain_id"})
    project = await service.create_project(session, {**fields, "domain_id": domain_id})
    await session.commit()
    return {"project": project_view(state.settings.base_url, project)}


@router.get("/v3/projects/{project_id}")
async def show_project(
    project_id: str, ctx: Ctx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """An admin sees any project; a member only the one its token is scoped to."""
    if not ctx.is_admin and ctx.project_id != project_id:
        raise Forbidden("You are not authorized to perform the requested action.")
    project = await service.get_project(session, project_id)
    return {"project": project_view(state.settings.base_url, project)}


@router.patch("/v3/projects/{project_id}")
async def update_project(
    project_id: str,
    body: ProjectUpdateRequest,
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
) -> dict[str, Any]:
    """Disabling a project revokes the tokens scoped to it."""
    project = await service.get_project(session, project_id)
    await service.update_project(session, state.tokens, project, body.project.changes())
    await session.commit()
    return {"project": project_view(state.settings.base_url, project)}


@router.delete("/v3/projects/{project_id}", status_code=204)
async def delete_project(
    project_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> Response:
    """Deletes its role assignments and revokes the tokens scoped to it."""
    project = await service.get_project(session, project_id)
    await service.delete_project(session, state.tokens, project)
    await session.commit()
    return Response(status_code=204)
