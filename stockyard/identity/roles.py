"""Roles and role assignments: a user or a group holds a role on a project, a domain
or the system.

A token keeps the roles it was issued with, so taking a role away revokes the tokens
that may carry it: the next token carries the new set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import or_, select
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
from stockyard.identity.errors import BadRequest, NotFound, delete_or_not_found
from stockyard.identity.role_defs import group_member_ids
from stockyard.identity.tokens import TokenService


@dataclass(frozen=True)
class Target:
    """Where a grant applies: exactly one of a project, a domain or the system.

    ``inherited`` (OS-INHERIT): the grant applies to the target's projects instead
    (each project of a domain; a project's subprojects, and projects are flat).
    """

    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    inherited: bool = False


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
                RoleAssignment.inherited.is_(target.inherited),
            )
        )
    return await session.scalar(
        select(GroupRoleAssignment).where(
            GroupRoleAssignment.role_id == role_id,
            GroupRoleAssignment.group_id == actor.id,
            _eq(GroupRoleAssignment.project_id, target.project_id),
            _eq(GroupRoleAssignment.domain_id, target.domain_id),
            GroupRoleAssignment.inherited.is_(target.inherited),
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
            inherited=target.inherited,
        )
    else:
        row = GroupRoleAssignment(
            role_id=role_id,
            group_id=actor.id,
            project_id=target.project_id,
            domain_id=target.domain_id,
            inherited=target.inherited,
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
    await delete_or_not_found(session, row, _missing(role_id, actor).message)
    users = [actor.id] if actor.kind == "user" else await group_member_ids(session, actor.id)
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
        stmt = select(RoleAssignment.role_id).where(
            RoleAssignment.user_id == actor.id, RoleAssignment.inherited.is_(target.inherited)
        )
        if target.project_id is not None:
            stmt = stmt.where(RoleAssignment.project_id == target.project_id)
        else:
            stmt = stmt.where(RoleAssignment.domain_id == target.domain_id)
    else:
        stmt = select(GroupRoleAssignment.role_id).where(
            GroupRoleAssignment.group_id == actor.id,
            GroupRoleAssignment.inherited.is_(target.inherited),
        )
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
    ``project``, ``scope_domain`` or ``system``. ``inherited`` is the OS-INHERIT grant
    (on ``inherited_from``, a domain or a project) the row is or comes from.
    """

    role: Role
    user: User | None = None
    group: Group | None = None
    via_group: Group | None = None
    project: Project | None = None
    scope_domain: Domain | None = None
    system: bool = False
    inherited: bool = False
    inherited_from: Domain | Project | None = None


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
    inherited_only: bool = False


@dataclass(frozen=True)
class _Found:
    """A stored assignment, by ids."""

    role_id: str
    user_id: str | None = None
    group_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: bool = False
    inherited: bool = False


def _scope_wanted(q: AssignmentQuery, f: _Found) -> bool:
    """Whether an assignment (after any effective expansion) passes the scope filters."""
    if q.inherited_only and not f.inherited:
        return False
    if f.system:
        return q.project_id is None and q.domain_id is None
    if q.system:
        return False
    if q.project_id is not None and f.project_id != q.project_id:
        return False
    return q.domain_id is None or f.domain_id == q.domain_id


async def _stored(session: AsyncSession, q: AssignmentQuery) -> list[_Found]:
    """Every stored assignment the actor filters (user.id, group.id) can match."""
    if q.effective and q.group_id is not None:
        raise BadRequest("Invalid input: effective and group.id cannot be used together.")
    user_groups: set[str] | None = None
    if q.user_id is not None and q.effective:
        user_groups = set(
            await session.scalars(
                select(GroupMember.group_id).where(GroupMember.user_id == q.user_id)
            )
        )
    found: list[_Found] = []
    if q.group_id is None:
        stmt = select(RoleAssignment).order_by(RoleAssignment.id)
        if q.user_id is not None:
            stmt = stmt.where(RoleAssignment.user_id == q.user_id)
        found += [
            _Found(a.role_id, a.user_id, None, a.project_id, a.domain_id, False, a.inherited)
            for a in await session.scalars(stmt)
        ]
    if q.user_id is None or user_groups:
        gstmt = select(GroupRoleAssignment).order_by(GroupRoleAssignment.id)
        if q.group_id is not None:
            gstmt = gstmt.where(GroupRoleAssignment.group_id == q.group_id)
        if user_groups is not None:
            gstmt = gstmt.where(GroupRoleAssignment.group_id.in_(user_groups))
        found += [
            _Found(g.role_id, None, g.group_id, g.project_id, g.domain_id, False, g.inherited)
            for g in await session.scalars(gstmt)
        ]
    sstmt = select(SystemRoleAssignment).order_by(SystemRoleAssignment.id)
    for s in await session.scalars(sstmt):
        if s.user_id is not None and q.group_id is None and q.user_id in (None, s.user_id):
            found.append(_Found(s.role_id, user_id=s.user_id, system=True))
        elif s.group_id is not None and (
            (q.user_id is None and q.group_id in (None, s.group_id))
            or (user_groups is not None and s.group_id in user_groups)
        ):
            found.append(_Found(s.role_id, group_id=s.group_id, system=True))
    if q.role_id is not None:
        found = [f for f in found if f.role_id == q.role_id]
    return found


async def list_assignments(session: AsyncSession, q: AssignmentQuery) -> list[AssignmentRow]:
    """Assignments matching every given filter (as ``GET /v3/role_assignments``).

    ``effective`` expands each group assignment into one row per member (with
    ``via_group``) and each inherited domain grant into one row per project of the
    domain, and leaves out what they expand from, as Keystone.
    """
    found = await _stored(session, q)
    roles = {r.id: r for r in await session.scalars(select(Role))}
    domains = {d.id: d for d in await session.scalars(select(Domain))}
    # Only the projects the rows name, and those an effective inherited grant reaches.
    project_ids = {f.project_id for f in found if f.project_id is not None}
    reach = {f.domain_id for f in found if q.effective and f.inherited and f.domain_id}
    pstmt = select(Project).where(or_(Project.id.in_(project_ids), Project.domain_id.in_(reach)))
    projects = {p.id: p for p in await session.scalars(pstmt)}
    group_ids = {f.group_id for f in found if f.group_id is not None}
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
    user_ids = {f.user_id for f in found if f.user_id is not None}
    user_ids.update(u for us in members.values() for u in us)
    users = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(user_ids)))}
    by_domain: dict[str, list[Project]] = {}
    for each in projects.values():
        by_domain.setdefault(each.domain_id, []).append(each)

    result: list[AssignmentRow] = []
    for f in found:
        if (f.project_id and f.project_id not in projects) or (
            f.domain_id and f.domain_id not in domains
        ):
            continue  # its target went in the same moment: no scope to show
        origin: Domain | Project | None = None
        if f.inherited:
            origin = projects[f.project_id] if f.project_id else domains[str(f.domain_id)]
        # (project, domain) pairs the row applies to, after the effective expansion.
        targets: list[tuple[Project | None, Domain | None]]
        if q.effective and f.inherited:
            # Projects are flat: an inherited project grant reaches no project.
            reached = by_domain.get(str(f.domain_id), []) if f.domain_id else []
            targets = [(p, None) for p in sorted(reached, key=lambda p: p.name)]
        else:
            targets = [(projects.get(f.project_id or ""), domains.get(f.domain_id or ""))]
        holders: list[tuple[User | None, Group | None, Group | None]]
        if f.group_id is not None and q.effective:
            holders = [
                (users[uid], None, groups[f.group_id]) for uid in members.get(f.group_id, [])
            ]
        elif f.group_id is not None:
            holders = [(None, groups[f.group_id], None)]
        else:
            holders = [(users[str(f.user_id)], None, None)]
        for project, domain in targets:
            shown = _Found(
                f.role_id,
                project_id=project.id if project else None,
                domain_id=domain.id if domain else None,
                system=f.system,
                inherited=f.inherited,
            )
            if not _scope_wanted(q, shown):
                continue
            for user, group, via in holders:
                result.append(
                    AssignmentRow(
                        role=roles[f.role_id],
                        user=user,
                        group=group,
                        via_group=via,
                        project=project,
                        scope_domain=domain,
                        system=f.system,
                        inherited=f.inherited,
                        inherited_from=origin,
                    )
                )
    return result
