"""``/v3/roles`` and role assignments on projects and domains (all admin-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from stockyard.api.deps import AdminCtx, SessionDep, StateDep
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import RoleCreateRequest
from stockyard.api.identity.views import collection_links, role_view, v3_url
from stockyard.identity import roles
from stockyard.identity.roles import AssignmentRow, Target

router = identity_router()


@router.get("/v3/roles")
async def list_roles(
    ctx: AdminCtx, session: SessionDep, state: StateDep, name: str | None = None
) -> dict[str, Any]:
    base = state.settings.base_url
    rows = await roles.list_roles(session, name)
    return {"roles": [role_view(base, r) for r in rows], "links": collection_links(base, "roles")}


@router.post("/v3/roles", status_code=201)
async def create_role(
    body: RoleCreateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    role = await roles.create_role(session, body.role.model_dump(exclude={"domain_id"}))
    await session.commit()
    return {"role": role_view(state.settings.base_url, role)}


@router.get("/v3/roles/{role_id}")
async def show_role(
    role_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    role = await roles.get_role(session, role_id)
    return {"role": role_view(state.settings.base_url, role)}


@router.delete("/v3/roles/{role_id}", status_code=204)
async def delete_role(
    role_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> Response:
    """Removes the role's assignments and revokes the tokens that carried it."""
    role = await roles.get_role(session, role_id)
    await roles.delete_role(session, state.tokens, role)
    await session.commit()
    return Response(status_code=204)


# ---- grants: /v3/{projects|domains}/{id}/users/{uid}/roles[/{rid}] ----


def _target(kind: str, target_id: str) -> Target:
    return Target(project_id=target_id) if kind == "projects" else Target(domain_id=target_id)


def _register_grants(kind: str) -> None:
    """The same four routes for project and domain grants."""
    grant_path = f"/v3/{kind}/{{target_id}}/users/{{user_id}}/roles/{{role_id}}"

    @router.put(grant_path, status_code=204, name=f"grant_{kind}")
    async def grant(
        target_id: str, user_id: str, role_id: str, ctx: AdminCtx, session: SessionDep
    ) -> Response:
        """Grant a role (idempotent)."""
        await roles.grant(session, role_id, user_id, _target(kind, target_id))
        await session.commit()
        return Response(status_code=204)

    @router.head(grant_path, status_code=204, name=f"check_{kind}")
    async def check(
        target_id: str, user_id: str, role_id: str, ctx: AdminCtx, session: SessionDep
    ) -> Response:
        """204 if the grant exists, 404 if not."""
        await roles.check(session, role_id, user_id, _target(kind, target_id))
        return Response(status_code=204)

    @router.delete(grant_path, status_code=204, name=f"revoke_{kind}")
    async def revoke(
        target_id: str,
        user_id: str,
        role_id: str,
        ctx: AdminCtx,
        session: SessionDep,
        state: StateDep,
    ) -> Response:
        """Remove the grant and revoke the user's tokens that carried it."""
        target = _target(kind, target_id)
        await roles.revoke(session, state.tokens, role_id, user_id, target)
        await session.commit()
        return Response(status_code=204)

    @router.get(f"/v3/{kind}/{{target_id}}/users/{{user_id}}/roles", name=f"list_{kind}")
    async def list_grants(
        target_id: str, user_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
    ) -> dict[str, Any]:
        """The roles granted to the user on the project or domain."""
        base = state.settings.base_url
        rows = await roles.roles_on(session, user_id, _target(kind, target_id))
        return {
            "roles": [role_view(base, r) for r in rows],
            "links": collection_links(base, f"{kind}/{target_id}/users/{user_id}/roles"),
        }


_register_grants("projects")
_register_grants("domains")


# ---- GET /v3/role_assignments ----


def _truthy(value: str | None) -> bool:
    """Keystone's reading of flag parameters: present and not false-ish."""
    return value is not None and value.lower() not in ("0", "false", "no", "off")


def _assignment_view(base: str, row: AssignmentRow, names: bool) -> dict[str, Any]:
    role: dict[str, Any] = {"id": row.role.id}
    user: dict[str, Any] = {"id": row.user.id}
    scope: dict[str, Any]
    if row.project is not None:
        scope = {"project": {"id": row.project.id}}
        link = f"projects/{row.project.id}/users/{row.user.id}/roles/{row.role.id}"
    else:
        assert row.scope_domain is not None  # an assignment has one of the two
        scope = {"domain": {"id": row.scope_domain.id}}
        link = f"domains/{row.scope_domain.id}/users/{row.user.id}/roles/{row.role.id}"
    if names:
        role["name"] = row.role.name
        user["name"] = row.user.name
        user["domain"] = {"id": row.user_domain.id, "name": row.user_domain.name}
        if row.project is not None:
            scope["project"]["name"] = row.project.name
            domain = row.project_domain
            assert domain is not None
            scope["project"]["domain"] = {"id": domain.id, "name": domain.name}
        else:
            assert row.scope_domain is not None
            scope["domain"]["name"] = row.scope_domain.name
    return {"role": role, "user": user, "scope": scope, "links": {"assignment": v3_url(base, link)}}


@router.get("/v3/role_assignments")
async def list_role_assignments(
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
    user_id: Annotated[str | None, Query(alias="user.id")] = None,
    group_id: Annotated[str | None, Query(alias="group.id")] = None,
    role_id: Annotated[str | None, Query(alias="role.id")] = None,
    project_id: Annotated[str | None, Query(alias="scope.project.id")] = None,
    domain_id: Annotated[str | None, Query(alias="scope.domain.id")] = None,
    include_names: str | None = None,
) -> dict[str, Any]:
    """Assignments filtered by user, role and scope; ``include_names`` adds names.

    There are no groups or inherited roles, so ``effective`` changes nothing and a
    ``group.id`` filter matches nothing.
    """
    base = state.settings.base_url
    rows = (
        []
        if group_id is not None
        else await roles.list_assignments(session, user_id, role_id, project_id, domain_id)
    )
    names = _truthy(include_names)
    body = [_assignment_view(base, r, names) for r in rows]
    return {"role_assignments": body, "links": collection_links(base, "role_assignments")}
