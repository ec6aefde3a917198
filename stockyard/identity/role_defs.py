"""Role definitions: list, create, rename and delete roles. Tokens carry role names, so
a rename or a delete revokes the tokens of everyone who holds the role (directly, through
a group, or on the system)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import (
    GroupMember,
    GroupRoleAssignment,
    Role,
    RoleAssignment,
    SystemRoleAssignment,
)
from stockyard.identity.bootstrap import ROLE_NAMES
from stockyard.identity.errors import Conflict, Forbidden, NotFound, delete_or_not_found
from stockyard.identity.tokens import TokenService


async def list_roles(session: AsyncSession, name: str | None = None) -> list[Role]:
    stmt = select(Role).order_by(Role.name)
    if name is not None:
        stmt = stmt.where(Role.name == name)
    return list(await session.scalars(stmt))


async def get_role(session: AsyncSession, role_id: str) -> Role:
    role = await session.get(Role, role_id)
    if role is None:
        raise NotFound(_not_found(role_id))
    return role


def _not_found(role_id: str) -> str:
    return f"Could not find role: {role_id}."


async def create_role(session: AsyncSession, fields: dict[str, Any]) -> Role:
    if await session.scalar(select(Role.id).where(Role.name == fields["name"])):
        raise Conflict(f"Conflict occurred attempting to store role - name {fields['name']}.")
    role = Role(**fields)
    session.add(role)
    await session.flush()
    return role


async def group_member_ids(session: AsyncSession, group_id: str) -> list[str]:
    """The ids of the users in a group."""
    stmt = select(GroupMember.user_id).where(GroupMember.group_id == group_id)
    return list(await session.scalars(stmt))


async def update_role(
    session: AsyncSession, tokens: TokenService, role: Role, changes: dict[str, Any]
) -> None:
    """Rename or re-describe a role. Tokens carry role names, so a rename revokes the
    tokens of everyone holding it; the seeded roles' names are what policy checks, so
    they cannot be renamed (Keystone bootstraps them immutable)."""
    name = changes.get("name")
    if name is not None and name != role.name:
        if role.name in ROLE_NAMES:
            raise Forbidden(f"Unable to update immutable role resource: {role.id} ({role.name}).")
        if await session.scalar(select(Role.id).where(Role.name == name)):
            raise Conflict(f"Conflict occurred attempting to store role - name {name}.")
        await _revoke_holders(session, tokens, role)
        role.name = name
    if changes.get("description") is not None:
        role.description = changes["description"]
    await session.flush()


async def delete_role(session: AsyncSession, tokens: TokenService, role: Role) -> None:
    """Revoke the tokens of everyone who held the role, then drop it and its grants."""
    await _revoke_holders(session, tokens, role)
    await delete_or_not_found(session, role, _not_found(role.id))
    await session.flush()


async def _revoke_holders(session: AsyncSession, tokens: TokenService, role: Role) -> None:
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
            users.update(await group_member_ids(session, group_id))
    for holder in users:
        if holder is not None:
            await tokens.revoke_user(session, holder)
