"""Roles and role assignments (user x role on a project or a domain).

A token keeps the roles it was issued with, so taking a role away revokes the user's
tokens on that project: the next token carries the new set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Domain, Project, Role, RoleAssignment, User
from stockyard.identity.errors import Conflict, NotFound
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


async def delete_role(session: AsyncSession, tokens: TokenService, role: Role) -> None:
    holders = await session.execute(
        select(RoleAssignment.user_id, RoleAssignment.project_id).where(
            RoleAssignment.role_id == role.id
        )
    )
    for user_id, project_id in holders.all():
        await tokens.revoke_user(session, user_id, project_id)
    await session.delete(role)
    await session.flush()


@dataclass(frozen=True)
class Target:
    """Where a grant applies: exactly one of a project or a domain."""

    project_id: str | None = None
    domain_id: str | None = None


async def _check_target(session: AsyncSession, role_id: str, user_id: str, target: Target) -> None:
    """404 naming the first of project/domain, user, role that does not exist."""
    await _check_target_exists(session, user_id, target)
    if await session.get(Role, role_id) is None:
        raise NotFound(f"Could not find role: {role_id}.")


async def _find(
    session: AsyncSession, role_id: str, user_id: str, target: Target
) -> RoleAssignment | None:
    return await session.scalar(
        select(RoleAssignment).where(
            RoleAssignment.role_id == role_id,
            RoleAssignment.user_id == user_id,
            RoleAssignment.project_id.is_(None)
            if target.project_id is None
            else RoleAssignment.project_id == target.project_id,
            RoleAssignment.domain_id.is_(None)
            if target.domain_id is None
            else RoleAssignment.domain_id == target.domain_id,
        )
    )


async def grant(session: AsyncSession, role_id: str, user_id: str, target: Target) -> None:
    """Idempotent, as Keystone's PUT."""
    await _check_target(session, role_id, user_id, target)
    if await _find(session, role_id, user_id, target) is None:
        session.add(
            RoleAssignment(
                role_id=role_id,
                user_id=user_id,
                project_id=target.project_id,
                domain_id=target.domain_id,
            )
        )
        await session.flush()


async def check(session: AsyncSession, role_id: str, user_id: str, target: Target) -> None:
    await _check_target(session, role_id, user_id, target)
    if await _find(session, role_id, user_id, target) is None:
        raise NotFound(f"Could not find role assignment of role {role_id} for user {user_id}.")


async def revoke(
    session: AsyncSession, tokens: TokenService, role_id: str, user_id: str, target: Target
) -> None:
    await _check_target(session, role_id, user_id, target)
    row = await _find(session, role_id, user_id, target)
    if row is None:
        raise NotFound(f"Could not find role assignment of role {role_id} for user {user_id}.")
    await session.delete(row)
    if target.project_id is not None:
        await tokens.revoke_user(session, user_id, target.project_id)
    else:
        # Domain-scoped tokens are not tracked per domain; revoke all the user's tokens.
        await tokens.revoke_user(session, user_id)
    await session.flush()


async def roles_on(session: AsyncSession, user_id: str, target: Target) -> list[Role]:
    """The roles granted directly to the user on the target."""
    await _check_target_exists(session, user_id, target)
    stmt = (
        select(Role)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user_id)
        .order_by(Role.name)
    )
    if target.project_id is not None:
        stmt = stmt.where(RoleAssignment.project_id == target.project_id)
    else:
        stmt = stmt.where(RoleAssignment.domain_id == target.domain_id)
    return list(await session.scalars(stmt))


async def _check_target_exists(session: AsyncSession, user_id: str, target: Target) -> None:
    if target.project_id is not None and await session.get(Project, target.project_id) is None:
        raise NotFound(f"Could not find project: {target.project_id}.")
    if target.domain_id is not None and await session.get(Domain, target.domain_id) is None:
        raise NotFound(f"Could not find domain: {target.domain_id}.")
    if await session.get(User, user_id) is None:
        raise NotFound(f"Could not find user: {user_id}.")


@dataclass(frozen=True)
class AssignmentRow:
    """One assignment with the rows it names, for rendering with or without names."""

    role: Role
    user: User
    user_domain: Domain
    project: Project | None
    project_domain: Domain | None
    scope_domain: Domain | None


async def list_assignments(
    session: AsyncSession,
    user_id: str | None = None,
    role_id: str | None = None,
    project_id: str | None = None,
    domain_id: str | None = None,
) -> list[AssignmentRow]:
    """Assignments matching every given filter (as ``GET /v3/role_assignments``)."""
    stmt = select(RoleAssignment, Role, User).join(Role).join(User)
    if user_id is not None:
        stmt = stmt.where(RoleAssignment.user_id == user_id)
    if role_id is not None:
        stmt = stmt.where(RoleAssignment.role_id == role_id)
    if project_id is not None:
        stmt = stmt.where(RoleAssignment.project_id == project_id)
    if domain_id is not None:
        stmt = stmt.where(RoleAssignment.domain_id == domain_id)
    rows = (await session.execute(stmt.order_by(RoleAssignment.id))).all()
    domains = {d.id: d for d in await session.scalars(select(Domain))}
    project_ids = {a.project_id for a, _, _ in rows if a.project_id is not None}
    projects: dict[str, Project] = {}
    if project_ids:
        found = await session.scalars(select(Project).where(Project.id.in_(project_ids)))
        projects = {p.id: p for p in found}
    result = []
    for a, role, user in rows:
        project = projects.get(a.project_id) if a.project_id else None
        result.append(
            AssignmentRow(
                role=role,
                user=user,
                user_domain=domains[user.domain_id],
                project=project,
                project_domain=domains.get(project.domain_id) if project else None,
                scope_domain=domains.get(a.domain_id) if a.domain_id else None,
            )
        )
    return result
