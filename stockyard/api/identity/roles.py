"""``/v3/roles`` and role assignments of users and groups on projects, domains and the
system (all admin-only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Response

from stockyard.api.deps import AdminCtx, SessionDep, StateDep
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import RoleCreateRequest, RoleUpdateRequest
from stockyard.api.identity.views import collection_links, role_view, v3_url
from stockyard.db.models import Domain
from stockyard.identity import role_defs, roles, service
from stockyard.identity.errors import BadRequest
from stockyard.identity.roles import Actor, AssignmentQuery, AssignmentRow, Target

router = identity_router()


@router.get("/v3/roles")
async def list_roles(
    ctx: AdminCtx,
    session: SessionDep,
    state: StateDep,
    name: str | None = None,
    domain_id: str | None = None,
) -> dict[str, Any]:
    """Every role, or the one named; roles are global, so ``domain_id`` finds none."""
    base = state.settings.base_url
    rows = [] if domain_id is not None else await role_defs.list_roles(session, name)
    return {"roles": [role_view(base, r) for r in rows], "links": collection_links(base, "roles")}


@router.post("/v3/roles", status_code=201)
async def create_role(
    body: RoleCreateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    role = await role_defs.create_role(session, body.role.model_dump(exclude={"domain_id"}))
    await session.commit()
    return {"role": role_view(state.settings.base_url, role)}


@router.get("/v3/roles/{role_id}")
async def show_role(
    role_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    role = await role_defs.get_role(session, role_id)
    return {"role": role_view(state.settings.base_url, role)}


@router.patch("/v3/roles/{role_id}")
async def update_role(
    role_id: str, body: RoleUpdateRequest, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """Rename (revokes the holders' tokens) or re-describe a role."""
    role = await role_defs.get_role(session, role_id)
    await role_defs.update_role(session, state.tokens, role, body.role.changes())
    await session.commit()
    return {"role": role_view(state.settings.base_url, role)}


@router.delete("/v3/roles/{role_id}", status_code=204)
async def delete_role(
    role_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> Response:
    """Removes the role's assignments and revokes the tokens that carried it."""
    role = await role_defs.get_role(session, role_id)
    await role_defs.delete_role(session, state.tokens, role)
    await session.commit()
    return Response(status_code=204)


# ---- grants: /v3/{projects|domains}/{id}/{users|groups}/{aid}/roles[/{rid}] and
# /v3/system/{users|groups}/{aid}/roles[/{rid}] ----


def _target_dep(kind: str, inherited: bool) -> Callable[..., Target]:
    """The dependency that reads the grant's target from the path (none for system)."""
    if kind == "system":

        def system_target() -> Target:
            return Target(system=True)

        return system_target

    def target(target_id: str) -> Target:
        if kind == "projects":
            return Target(project_id=target_id, inherited=inherited)
        return Target(domain_id=target_id, inherited=inherited)

    return target


def _actor(actors: str, actor_id: str) -> Actor:
    return Actor("user" if actors == "users" else "group", actor_id)


def _register_grants(kind: str, actors: str, inherited: bool = False) -> None:
    """The same routes for user and group grants on projects, domains and the system,
    and (``inherited``) for OS-INHERIT grants on a domain's or a project's projects."""
    if kind == "system":
        prefix = "/v3/system"
    elif inherited:
        prefix = f"/v3/OS-INHERIT/{kind}/{{target_id}}"
    else:
        prefix = f"/v3/{kind}/{{target_id}}"
    suffix = "/inherited_to_projects" if inherited else ""
    roles_path = f"{prefix}/{actors}/{{actor_id}}/roles"
    grant_path = f"{roles_path}/{{role_id}}{suffix}"
    tag = f"{'inherited_' if inherited else ''}{kind}_{actors}"
    # A default, not an Annotated alias: the annotations are strings (PEP 563) that
    # FastAPI resolves in the module's globals, where a local alias is not.
    on = Depends(_target_dep(kind, inherited))

    @router.put(grant_path, status_code=204, name=f"grant_{tag}")
    async def grant(
        actor_id: str, role_id: str, ctx: AdminCtx, session: SessionDep, target: Target = on
    ) -> Response:
        """Grant a role (idempotent)."""
        await roles.grant(session, role_id, _actor(actors, actor_id), target)
        await session.commit()
        return Response(status_code=204)

    async def check(
        actor_id: str, role_id: str, ctx: AdminCtx, session: SessionDep, target: Target = on
    ) -> Response:
        """204 if the grant exists, 404 if not."""
        await roles.check(session, role_id, _actor(actors, actor_id), target)
        return Response(status_code=204)

    router.head(grant_path, status_code=204, name=f"check_{tag}")(check)
    if kind == "system" or inherited:
        # Keystone answers GET on a system or inherited grant as HEAD: 204 or 404.
        router.get(grant_path, status_code=204, name=f"get_{tag}")(check)

    @router.delete(grant_path, status_code=204, name=f"revoke_{tag}")
    async def revoke(
        actor_id: str,
        role_id: str,
        ctx: AdminCtx,
        session: SessionDep,
        state: StateDep,
        target: Target = on,
    ) -> Response:
        """Remove the grant and revoke the tokens that may carry it."""
        await roles.revoke(session, state.tokens, role_id, _actor(actors, actor_id), target)
        await session.commit()
        return Response(status_code=204)

    @router.get(f"{roles_path}{suffix}", name=f"list_{tag}")
    async def list_grants(
        actor_id: str, ctx: AdminCtx, session: SessionDep, state: StateDep, target: Target = on
    ) -> dict[str, Any]:
        """The roles granted directly to the user or group on the target."""
        base = state.settings.base_url
        rows = await roles.roles_on(session, _actor(actors, actor_id), target)
        target_id = target.project_id or target.domain_id or ""
        path = f"{roles_path}{suffix}".replace("{target_id}", target_id)
        return {
            "roles": [role_view(base, r) for r in rows],
            "links": collection_links(base, path.replace("{actor_id}", actor_id)[4:]),
        }


for _kind in ("projects", "domains", "system"):
    for _actors in ("users", "groups"):
        _register_grants(_kind, _actors)
        if _kind != "system":
            _register_grants(_kind, _actors, inherited=True)


# ---- GET /v3/role_assignments ----


def _truthy(value: str | None) -> bool:
    """Keystone's reading of flag parameters: present (``?effective`` alone too) and not
    false-ish."""
    return value is not None and value.lower() not in ("0", "false", "no", "off")


def _named(ref: dict[str, Any], name: str, domain: Domain | None) -> None:
    ref["name"] = name
    if domain is not None:
        ref["domain"] = {"id": domain.id, "name": domain.name}


def _assignment_view(
    base: str, row: AssignmentRow, names: bool, domains: dict[str, Domain]
) -> dict[str, Any]:
    """One entry of ``role_assignments``, as Keystone (and Tempest's schema) shape it."""
    role: dict[str, Any] = {"id": row.role.id}
    scope: dict[str, Any]
    suffix = ""
    if row.project is not None:
        scope = {"project": {"id": row.project.id}}
        where = f"projects/{row.project.id}"
    elif row.scope_domain is not None:
        scope = {"domain": {"id": row.scope_domain.id}}
        where = f"domains/{row.scope_domain.id}"
    else:
        scope = {"system": {"all": True}}
        where = "system"
    origin = row.inherited_from
    if row.inherited and origin is not None:
        # The link names the OS-INHERIT grant; an effective row (on one of the projects
        # it reaches) no longer carries the inherited_to mark.
        kind = "domains" if isinstance(origin, Domain) else "projects"
        where = f"OS-INHERIT/{kind}/{origin.id}"
        suffix = "/inherited_to_projects"
        if origin in (row.project, row.scope_domain):
            scope["OS-INHERIT:inherited_to"] = "projects"
    body: dict[str, Any] = {"role": role, "scope": scope}
    holder = row.group or row.via_group
    if row.user is not None:
        body["user"] = {"id": row.user.id}
    else:
        assert row.group is not None  # a row names a user or a group
        body["group"] = {"id": row.group.id}
    if holder is not None:
        link = f"{where}/groups/{holder.id}/roles/{row.role.id}{suffix}"
    else:
        assert row.user is not None
        link = f"{where}/users/{row.user.id}/roles/{row.role.id}{suffix}"
    links = {"assignment": v3_url(base, link)}
    if row.via_group is not None and row.user is not None:
        links["membership"] = v3_url(base, f"groups/{row.via_group.id}/users/{row.user.id}")
    body["links"] = links
    if names:
        role["name"] = row.role.name
        if row.user is not None:
            _named(body["user"], row.user.name, domains.get(row.user.domain_id))
        if row.group is not None:
            _named(body["group"], row.group.name, domains.get(row.group.domain_id))
        if row.project is not None:
            _named(scope["project"], row.project.name, domains.get(row.project.domain_id))
        elif row.scope_domain is not None:
            scope["domain"]["name"] = row.scope_domain.name
    return body


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
    system: Annotated[str | None, Query(alias="scope.system")] = None,
    inherited_to: Annotated[str | None, Query(alias="scope.OS-INHERIT:inherited_to")] = None,
    effective: str | None = None,
    include_names: str | None = None,
) -> dict[str, Any]:
    """Assignments filtered by user, group, role and scope (project, domain or
    ``scope.system=all``, ``scope.OS-INHERIT:inherited_to=projects``); ``effective``
    expands groups into their members and inherited grants into the projects they
    reach; ``include_names`` adds names."""
    if system is not None and system != "all":
        raise BadRequest("Invalid input for field/attribute scope.system: only 'all' is valid.")
    scopes = [v for v in (project_id, domain_id, system) if v is not None]
    if len(scopes) > 1:
        raise BadRequest("Specify at most one of scope.project.id, scope.domain.id, scope.system.")
    if inherited_to not in (None, "projects"):
        raise BadRequest(
            "Invalid input for field/attribute scope.OS-INHERIT:inherited_to: "
            "only 'projects' is valid."
        )
    if user_id is not None and group_id is not None:
        raise BadRequest("Specify one of user.id and group.id, not both.")
    base = state.settings.base_url
    query = AssignmentQuery(
        user_id=user_id,
        group_id=group_id,
        role_id=role_id,
        project_id=project_id,
        domain_id=domain_id,
        system=system is not None,
        effective=_truthy(effective),
        inherited_only=inherited_to is not None,
    )
    rows = await roles.list_assignments(session, query)
    names = _truthy(include_names)
    domains = {d.id: d for d in await service.list_domains(session)} if names else {}
    body = [_assignment_view(base, r, names, domains) for r in rows]
    return {"role_assignments": body, "links": collection_links(base, "role_assignments")}
