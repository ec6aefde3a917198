"""``/v3/groups``: admin CRUD and membership; ``/v3/users/{id}/groups`` for the user
itself or an admin. A member's tokens carry the roles of its groups."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from stockyard.api.deps import AdminCtx, Ctx, SessionDep, StateDep
from stockyard.api.identity.filters import NameOps
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import GroupCreateRequest, GroupUpdateRequest
from stockyard.api.identity.views import collection_links, group_view, user_view
from stockyard.identity import groups
from stockyard.identity.errors import Forbidden

router = identity_router()


@router.get("/v3/groups")
async def list_groups(
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
    name_ops: NameOps,
    name: str | None = None,
    domain_id: str | None = None,
) -> dict[str, Any]:
    """Every group, optionally filtered by name and domain_id."""
    base = state.settings.base_url
    rows = await groups.list_groups(session, name=name, domain_id=domain_id, **name_ops)
    return {
        "groups": [group_view(base, g) for g in rows],
        "links": collection_links(base, "groups"),
    }


@router.post("/v3/groups", status_code=201)
async def create_group(
    body: GroupCreateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    fields = body.group.model_dump()
    fields["domain_id"] = fields["domain_id"] or ctx.domain_id
    group = await groups.create_group(session, fields)
    await session.commit()
    return {"group": group_view(state.settings.base_url, group)}


@router.get("/v3/groups/{group_id}")
async def show_group(
    group_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    group = await groups.get_group(session, group_id)
    return {"group": group_view(state.settings.base_url, group)}


@router.patch("/v3/groups/{group_id}")
async def update_group(
    group_id: str, body: GroupUpdateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    group = await groups.get_group(session, group_id)
    await groups.update_group(session, group, body.group.changes())
    await session.commit()
    return {"group": group_view(state.settings.base_url, group)}


@router.delete("/v3/groups/{group_id}", status_code=204)
async def delete_group(
    group_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> Response:
    """Deletes its memberships and role assignments; revokes its members' tokens."""
    group = await groups.get_group(session, group_id)
    await groups.delete_group(session, state.tokens, group)
    await session.commit()
    return Response(status_code=204)


@router.get("/v3/groups/{group_id}/users")
async def list_group_users(
    group_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    base = state.settings.base_url
    rows = await groups.group_users(session, group_id)
    return {
        "users": [user_view(base, u) for u in rows],
        "links": collection_links(base, f"groups/{group_id}/users"),
    }


MEMBER_PATH = "/v3/groups/{group_id}/users/{user_id}"


@router.put(MEMBER_PATH, status_code=204)
async def add_group_user(
    group_id: str, user_id: str, ctx: AdminCtx, session: SessionDep
) -> Response:
    """Idempotent."""
    await groups.add_member(session, group_id, user_id)
    await session.commit()
    return Response(status_code=204)


@router.head(MEMBER_PATH, status_code=204)
async def check_group_user(
    group_id: str, user_id: str, ctx: AdminCtx, session: SessionDep
) -> Response:
    """204 if the user is a member, 404 if not."""
    await groups.check_member(session, group_id, user_id)
    return Response(status_code=204)


@router.delete(MEMBER_PATH, status_code=204)
async def remove_group_user(
    group_id: str, user_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> Response:
    """Revokes the user's tokens: they may carry the group's roles."""
    await groups.remove_member(session, state.tokens, group_id, user_id)
    await session.commit()
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/groups")
async def list_user_groups(
    user_id: str, ctx: Ctx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """The groups of a user; the user itself or an admin may ask."""
    if not ctx.is_admin and ctx.user_id != user_id:
        raise Forbidden("You are not authorized to perform the requested action.")
    base = state.settings.base_url
    rows = await groups.user_groups(session, user_id)
    return {
        "groups": [group_view(base, g) for g in rows],
        "links": collection_links(base, f"users/{user_id}/groups"),
    }
