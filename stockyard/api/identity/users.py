"""``/v3/users``: admin CRUD, self-service password change, a user's projects."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from stockyard.api.deps import AdminCtx, Ctx, SessionDep, StateDep
from stockyard.api.identity.filters import NameOps
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import (
    PasswordChangeRequest,
    UserCreateRequest,
    UserUpdateRequest,
)
from stockyard.api.identity.views import collection_links, project_view, user_view
from stockyard.identity import service
from stockyard.identity.context import RequestContext
from stockyard.identity.errors import Forbidden

router = identity_router()


def _self_or_admin(ctx: RequestContext, user_id: str) -> None:
    if not ctx.is_admin and ctx.user_id != user_id:
        raise Forbidden("You are not authorized to perform the requested action.")


@router.get("/v3/users")
async def list_users(
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
    name_ops: NameOps,
    name: str | None = None,
    domain_id: str | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """Every user, optionally filtered by name, domain_id and enabled."""
    base = state.settings.base_url
    rows = await service.list_users(
        session, name=name, domain_id=domain_id, enabled=enabled, **name_ops
    )
    return {"users": [user_view(base, u) for u in rows], "links": collection_links(base, "users")}


@router.post("/v3/users", status_code=201)
async def create_user(
    body: UserCreateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    fields = body.user.model_dump()
    fields["domain_id"] = fields["domain_id"] or ctx.domain_id
    user = await service.create_user(session, fields)
    await session.commit()
    return {"user": user_view(state.settings.base_url, user)}


@router.get("/v3/users/{user_id}")
async def show_user(user_id: str, ctx: Ctx, session: SessionDep, state: StateDep) -> dict[str, Any]:
    """An admin sees any user; a user sees itself."""
    _self_or_admin(ctx, user_id)
    user = await service.get_user(session, user_id)
    return {"user": user_view(state.settings.base_url, user)}


@router.patch("/v3/users/{user_id}")
async def update_user(
    user_id: str, body: UserUpdateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """A new password or ``enabled: false`` revokes the user's tokens."""
    user = await service.get_user(session, user_id)
    await service.update_user(session, state.tokens, user, body.user.changes())
    await session.commit()
    return {"user": user_view(state.settings.base_url, user)}


@router.delete("/v3/users/{user_id}", status_code=204)
async def delete_user(
    user_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> Response:
    user = await service.get_user(session, user_id)
    await service.delete_user(session, state.tokens, user)
    await session.commit()
    return Response(status_code=204)


@router.post("/v3/users/{user_id}/password", status_code=204)
async def change_password(
    user_id: str, body: PasswordChangeRequest, session: SessionDep, state: StateDep
) -> Response:
    """Self-service: the original password authorises the change (no token needed, as
    Keystone, so a user can still change it when its tokens are gone). Revokes every
    token of the user."""
    spec = body.user
    await service.change_password(
        session, state.tokens, user_id, spec.original_password, spec.password
    )
    await session.commit()
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/projects")
async def user_projects(
    user_id: str, ctx: Ctx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """Projects the user holds a role on; the user itself or an admin may ask."""
    _self_or_admin(ctx, user_id)
    await service.get_user(session, user_id)
    base = state.settings.base_url
    rows = await service.user_projects(session, user_id)
    return {
        "projects": [project_view(base, p) for p in rows],
        "links": collection_links(base, f"users/{user_id}/projects"),
    }
