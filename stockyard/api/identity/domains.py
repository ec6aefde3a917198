"""``/v3/domains``: admin CRUD (members read their project's domain); only a disabled
domain may be deleted (Keystone)."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from stockyard.api.deps import AdminCtx, Ctx, SessionDep, StateDep
from stockyard.api.identity.filters import NameOps
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import DomainCreateRequest, DomainUpdateRequest
from stockyard.api.identity.views import collection_links, domain_view
from stockyard.db.models import Project
from stockyard.identity import service
from stockyard.identity.errors import Forbidden

router = identity_router()


@router.get("/v3/domains")
async def list_domains(
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
    name_ops: NameOps,
    name: str | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    base = state.settings.base_url
    rows = await service.list_domains(session, name=name, enabled=enabled, **name_ops)
    return {
        "domains": [domain_view(base, d) for d in rows],
        "links": collection_links(base, "domains"),
    }


@router.post("/v3/domains", status_code=201)
async def create_domain(
    body: DomainCreateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    domain = await service.create_domain(session, body.domain.model_dump())
    await session.commit()
    return {"domain": domain_view(state.settings.base_url, domain)}


@router.get("/v3/domains/{domain_id}")
async def show_domain(
    domain_id: str, ctx: Ctx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """Admins read any domain; others the domain of their token's project (Keystone's
    ``identity:get_domain``)."""
    if not ctx.is_admin:
        project = await session.get(Project, ctx.project_id) if ctx.project_id else None
        if project is None or project.domain_id != domain_id:
            raise Forbidden("You are not authorized to perform the requested action.")
    domain = await service.get_domain(session, domain_id)
    return {"domain": domain_view(state.settings.base_url, domain)}


@router.patch("/v3/domains/{domain_id}")
async def update_domain(
    domain_id: str, body: DomainUpdateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """Disabling a domain revokes the tokens of its users and projects."""
    domain = await service.get_domain(session, domain_id)
    await service.update_domain(session, state.tokens, domain, body.domain.changes())
    await session.commit()
    return {"domain": domain_view(state.settings.base_url, domain)}


@router.delete("/v3/domains/{domain_id}", status_code=204)
async def delete_domain(
    domain_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> Response:
    """403 while the domain is enabled; deletes its projects, users and groups."""
    domain = await service.get_domain(session, domain_id)
    await service.delete_domain(session, state.tokens, domain)
    await session.commit()
    return Response(status_code=204)
