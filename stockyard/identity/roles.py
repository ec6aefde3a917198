"""Roles and role assignments: a user or a group holds a role on a project, a domain
or the system.

A token keeps the roles it was issued with, so taking a role away revokes the tokens
that may carry it: the next token carries the new set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import (
    Domain,
    Group,
    GroupMember,
    GroupRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    SystemRoleAssignment,
    User,
)
from stockyard.identity.errors import BadRequest, Conflict, NotFound
from stockyard.identity.tokens import TokenService


async def list_roles(session: AsyncSession, name: str | None = None) -> list[Role]:
    stmt = select(Role).order_by(Role.name)
    if name is not None:
        stmt = stmt.where(Role.name == name)
    return list(await session.scalars(stmt))


async def get_role(session: AsyncSession, role_id: str) -> Role:
    role = await session.get(Role, role_id)
    if role is None:
        raise NotFound(f"Could not find role: {role_id}.")
    return role


async def create_role(session: AsyncSession, fields: dict[str, Any]) -> Role:
    if await session.scalar(select(Role.id).where(Role.name == fields["name"])):
        raise Conflict(f"Conflict occurred attempting to store role - name {fields['name']}.")
    role = Role(**fields)
    session.add(role)
    await session.flush()
    return role


async def _members(session: AsyncSession, group_id: str) -> list[str]:
    stmt = select(GroupMember.user_id).where(GroupMember.group_id == group_id)
    return list(await session.scalars(stmt))


async def delete_role(session: AsyncSession, tokens: TokenService, role: Role) -> None:
    """Revoke the tokens of everyone who held the role, then drop it and its grants."""
    holders = await session.execute(
        select(RoleAssignment.user_id, RoleAssignment.project_id).where(
            RoleAssignment.role_id == role.id
        )
    )
    for user_id, project_id in holders.all():
        await tokens.revoke_user(session, user_id, project_id)
    users: set[str | None] = set(
        await session.scalars(
            select(SystemRoleAssignment.user_id).where(
                SystemRoleAssignment.role_id == role.id, SystemRoleAssignment.user_id.is_not(None)
            )
        )
    )
    groups: set[str | None] = set(
        await session.scalars(
            select(GroupRoleAssignment.group_id).where(GroupRoleAssignment.role_id == role.id)
        )
    ) | set(
        await session.scalars(
            select(SystemRoleAssignment.group_id).where(
                SystemRoleAssignment.role_id == role.id, SystemRoleAssignment.group_id.is_not(None)
            )
        )
    )
    for group_id in groups:
        if group_id is not None:
            users.update(await _members(session, group_id))
    for holder in users:
        if holder is not None:
            await tokens.revoke_user(session, holder)
    await session.delete(role)
    await session.flush()


@dataclass(frozen=True)
class Target:
    """Where a grant applies: exactly one of a project, a domain or the system."""

    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False


@dataclass(frozen=True)
class Actor:
    """Who holds a grant: a user or a group."""

    kind: Literal["user", "group"]
    id: str


async def _check_target_exists(session: AsyncSession, actor: Actor, target: Target) -> None:
    """404 naming the first of project/domain, user/group that does not exist."""
    if target.project_id is not None and await session.get(Project, target.project_id) is None:
        raise NotFound(f"Could not find project: {target.project_id}.")
    if target.domain_id is not None and await session.get(Domain, target.domain_id) is None:
        raise NotFound(f"Could not find domain: {target.domain_id}.")
    model: type[User] | type[Group] = User if actor.kind == "user" else Group
    if await session.get(model, actor.id) is None:
        raise NotFound(f"Could not find {actor.kind}: {actor.id}.")


async def _check_target(session: AsyncSession, role_id: str, actor: Actor, target: Target) -> None:
    await _check_target_exists(session, actor, target)
    if await session.get(Role, role_id) is None:
        raise NotFound(f"Could not find role: {role_id}.")


def _eq(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


async def _find(
    session: AsyncSession, role_id: str, actor: Actor, target: Target
) -> RoleAssignment | GroupRoleAssignment | SystemRoleAssignment | None:
    if target.system:
        return await session.scalar(
            select(SystemRoleAssignment).where(
                SystemRoleAssignment.role_id == role_id,
                _eq(SystemRoleAssignment.user_id, actor.id if actor.kind == "user" else None),
                _eq(SystemRoleAssignment.group_id, actor.id if actor.kind == "group" else None),
            )
        )
    if actor.kind == "user":
        return await session.scalar(
            select(RoleAssignment).where(
                RoleAssignment.role_id == role_id,
                RoleAssignment.user_id == actor.id,
                _eq(RoleAssignment.project_id, target.project_id),
                _eq(RoleAssignment.domain_id, target.domain_id),
            )
        )
    return await session.scalar(
        select(GroupRoleAssignment).where(
            GroupRoleAssignment.role_id == role_id,
            GroupRoleAssignment.group_id == actor.id,
            _eq(GroupRoleAssignment.project_id, target.project_id),
            _eq(GroupRoleAssignment.domain_id, target.domain_id),
        )
    )


async def grant(session: AsyncSession, role_id: str, actor: Actor, target: Target) -> None:
    """Idempotent, as Keystone's PUT."""
    await _check_target(session, role_id, actor, target)
    if await _find(session, role_id, actor, target) is not None:
        return
    row: RoleAssignment | GroupRoleAssignment | SystemRoleAssignment
    if target.system:
        row = SystemRoleAssignment(role_id=role_id)
        if actor.kind == "user":
            row.user_id = actor.id
        else:
            row.group_id = actor.id
    elif actor.kind == "user":
        row = RoleAssignment(
            role_id=role_id,
            user_id=actor.id,
            project_id=target.project_id,
            domain_id=target.domain_id,
        )
    else:
        row = GroupRoleAssignment(
            role_id=role_id,
            group_id=actor.id,
            project_id=target.project_id,
            domain_id=target.domain_id,
        )
    session.add(row)
    await session.flush()


def _missing(role_id: str, actor: Actor) -> NotFound:
    return NotFound(
        f"Could not find role assignment of role {role_id} for {actor.kind} {actor.id}."
    )


async def check(session: AsyncSession, role_id: str, actor: Actor, target: Target) -> None:
    await _check_target(session, role_id, actor, target)
    if await _find(session, role_id, actor, target) is None:
        raise _missing(role_id, actor)


async def revoke(
    session: AsyncSession, tokens: TokenService, role_id: str, actor: Actor, target: Target
) -> None:
    """Remove the grant and revoke the tokens that may carry it."""
    await _check_target(session, role_id, actor, target)
    row = await _find(session, role_id, actor, target)
    if row is None:
        raise _missing(role_id, actor)
    await session.delete(row)
    users = [actor.id] if actor.kind == "user" else await _members(session, actor.id)
    for user_id in users:
        # Domain- and system-scoped tokens are not tracked per scope: revoke them all.
        await tokens.revoke_user(session, user_id, target.project_id)
    await session.flush()


async def roles_on(session: AsyncSession, actor: Actor, target: Target) -> list[Role]:
    """The roles granted directly to the user or group on the target."""
    await _check_target_exists(session, actor, target)
    stmt: Any
    if target.system:
        column = (
            SystemRoleAssignment.user_id if actor.kind == "user" else SystemRoleAssignment.group_id
        )
        stmt = select(SystemRoleAssignment.role_id).where(column == actor.id)
    elif actor.kind == "user":
        stmt = select(RoleAssignment.role_id).where(RoleAssignment.user_id == actor.id)
        if target.project_id is not None:
            stmt = stmt.where(RoleAssignment.project_id == target.project_id)
        else:
            stmt = stmt.where(RoleAssignment.domain_id == target.domain_id)
    else:
        stmt = select(GroupRoleAssignment.role_id).where(GroupRoleAssignment.group_id == actor.id)
        if target.project_id is not None:
            stmt = stmt.where(GroupRoleAssignment.project_id == target.project_id)
        else:
            stmt = stmt.where(GroupRoleAssignment.domain_id == target.domain_id)
    return list(await session.scalars(select(Role).where(Role.id.in_(stmt)).order_by(Role.name)))


@dataclass(frozen=True)
class AssignmentRow:
    """One assignment with the rows it names, for rendering with or without names.

    ``user`` or ``group`` is the holder; ``via_group`` is set on the effective rows a
    group assignment expands to (``user`` is then the member). The scope is one of
    ``project``, ``scope_domain`` or ``system``.
    """

    role: Role
    user: User | None = None
    group: Group | None = None
    via_group: Group | None = None
    project: Project | None = None
    scope_domain: Domain | None = None
    system: bool = False


@dataclass(frozen=True)
class AssignmentQuery:
    """The filters of ``GET /v3/role_assignments``; None means "any"."""

    user_id: str | None = None
    group_id: str | None = None
    role_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    effective: bool = False


def _scope_wanted(q: AssignmentQuery, project_id: str | None, domain_id: str | None) -> bool:
    """Whether an assignment on (project, domain) passes the query's scope filters."""
    if q.system:
        return False
    if q.project_id is not None and project_id != q.project_id:
        return False
    return q.domain_id is None or domain_id == q.domain_id


async def list_assignments(session: AsyncSession, q: AssignmentQuery) -> list[AssignmentRow]:
    """Assignments matching every given filter (as ``GET /v3/role_assignments``).

    ``effective`` expands each group assignment into one row per member (with
    ``via_group``) and leaves out the group rows themselves, as Keystone.
    """
    if q.effective and q.group_id is not None:
        raise BadRequest("Invalid input: effective and group.id cannot be used together.")
    scoped_elsewhere = q.project_id is not None or q.domain_id is not None
    user_groups: set[str] | None = None
    if q.user_id is not None and q.effective:
        user_groups = set(
            await session.scalars(
                select(GroupMember.group_id).where(GroupMember.user_id == q.user_id)
            )
        )
    # (role, user, group, project, domain, system)
    found: list[tuple[str, str | None, str | None, str | None, str | None, bool]] = []
    if q.group_id is None:
        stmt = select(RoleAssignment).order_by(RoleAssignment.id)
        if q.user_id is not None:
            stmt = stmt.where(RoleAssignment.user_id == q.user_id)
        for a in await session.scalars(stmt):
            if _scope_wanted(q, a.project_id, a.domain_id):
                found.append((a.role_id, a.user_id, None, a.project_id, a.domain_id, False))
    if q.user_id is None or user_groups:
        gstmt = select(GroupRoleAssignment).order_by(GroupRoleAssignment.id)
        if q.group_id is not None:
            gstmt = gstmt.where(GroupRoleAssignment.group_id == q.group_id)
        if user_groups is not None:
            gstmt = gstmt.where(GroupRoleAssignment.group_id.in_(user_groups))
        for g in await session.scalars(gstmt):
            if _scope_wanted(q, g.project_id, g.domain_id):
                found.append((g.role_id, None, g.group_id, g.project_id, g.domain_id, False))
    if not scoped_elsewhere:
        sstmt = select(SystemRoleAssignment).order_by(SystemRoleAssignment.id)
        for s in await session.scalars(sstmt):
            if s.user_id is not None and (q.group_id is None) and q.user_id in (None, s.user_id):
                found.append((s.role_id, s.user_id, None, None, None, True))
            elif s.group_id is not None and (
                (q.user_id is None and q.group_id in (None, s.group_id))
                or (user_groups is not None and s.group_id in user_groups)
            ):
                found.append((s.role_id, None, s.group_id, None, None, True))
    if q.role_id is not None:
        found = [f for f in found if f[0] == q.role_id]
    return await _rows(session, q, found)


async def _rows(
    session: AsyncSession,
    q: AssignmentQuery,
    found: list[tuple[str, str | None, str | None, str | None, str | None, bool]],
) -> list[AssignmentRow]:
    """Load the rows the assignments name and expand groups when ``effective``."""
    roles = {r.id: r for r in await session.scalars(select(Role))}
    domains = {d.id: d for d in await session.scalars(select(Domain))}
    group_ids = {f[2] for f in found if f[2] is not None}
    groups = {g.id: g for g in await session.scalars(select(Group).where(Group.id.in_(group_ids)))}
    members: dict[str, list[str]] = {}
    if q.effective and group_ids:
        pairs = await session.execute(
            select(GroupMember.group_id, GroupMember.user_id).where(
                GroupMember.group_id.in_(group_ids)
            )
        )
        for gid, uid in pairs.all():
            if q.user_id in (None, uid):
                members.setdefault(gid, []).append(uid)
    user_ids = {f[1] for f in found if f[1] is not None}
    user_ids.update(u for us in members.values() for u in us)
    users = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(user_ids)))}
    project_ids = {f[3] for f in found if f[3] is not None}
    projects = {
        p.id: p for p in await session.scalars(select(Project).where(Project.id.in_(project_ids)))
    }
    result: list[AssignmentRow] = []
    for role_id, user_id, group_id, project_id, domain_id, system in found:
        if (project_id and project_id not in projects) or (domain_id and domain_id not in domains):
            continue  # its target went in the same moment: no scope to show
        scope: dict[str, Any] = {
            "project": projects.get(project_id) if project_id else None,
            "scope_domain": domains.get(domain_id) if domain_id else None,
            "system": system,
        }
        role = roles[role_id]
        if group_id is not None and q.effective:
            for uid in members.get(group_id, []):
                result.append(
                    AssignmentRow(role=role, user=users[uid], via_group=groups[group_id], **scope)
                )
        elif group_id is not None:
            result.append(AssignmentRow(role=role, group=groups[group_id], **scope))
        elif user_id is not None:
            result.append(AssignmentRow(role=role, user=users[user_id], **scope))
    return result
