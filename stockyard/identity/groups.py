"""Groups and their members: queries and changes behind ``/v3/groups``.

As :mod:`stockyard.identity.service`: functions flush but never commit, and changes that
take roles away (deleting a group, removing a member) revoke the affected tokens in the
same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Group, GroupMember, User
from stockyard.identity.errors import NotFound, delete_or_not_found
from stockyard.identity.role_defs import group_member_ids
from stockyard.identity.service import (
    _check_name,
    _flush,
    _get,
    _list,
    _not_found,
    get_domain,
    get_user,
)
from stockyard.identity.tokens import TokenService, user_group_ids


async def list_groups(session: AsyncSession, **filters: Any) -> list[Group]:
    return await _list(session, Group, filters)


async def get_group(session: AsyncSession, group_id: str) -> Group:
    return await _get(session, Group, "group", group_id)


async def create_group(session: AsyncSession, fields: dict[str, Any]) -> Group:
    """``fields``: name, domain_id, description."""
    await get_domain(session, fields["domain_id"])
    await _check_name(session, Group, fields["domain_id"], fields["name"])
    group = Group(**fields)
    session.add(group)
    await _flush(session, "group")
    return group


async def update_group(session: AsyncSession, group: Group, changes: dict[str, Any]) -> Group:
    if "name" in changes and changes["name"] != group.name:
        await _check_name(session, Group, group.domain_id, changes["name"])
    for key, value in changes.items():
        setattr(group, key, value)
    await _flush(session, "group")
    return group


async def delete_group(session: AsyncSession, tokens: TokenService, group: Group) -> None:
    """Its members lose the group's roles: their tokens are revoked."""
    for user_id in await group_member_ids(session, group.id):
        await tokens.revoke_user(session, user_id)
    await delete_or_not_found(session, group, _not_found("group", group.id))
    await session.flush()


async def group_users(session: AsyncSession, group_id: str) -> list[User]:
    await get_group(session, group_id)
    members = select(GroupMember.user_id).where(GroupMember.group_id == group_id)
    stmt = select(User).where(User.id.in_(members)).order_by(User.name)
    return list(await session.scalars(stmt))


async def user_groups(session: AsyncSession, user_id: str) -> list[Group]:
    await get_user(session, user_id)
    stmt = select(Group).where(Group.id.in_(user_group_ids(user_id))).order_by(Group.name)
    return list(await session.scalars(stmt))


async def _membership(session: AsyncSession, group_id: str, user_id: str) -> GroupMember | None:
    await get_group(session, group_id)
    await get_user(session, user_id)
    return await session.get(GroupMember, (group_id, user_id))


async def add_member(session: AsyncSession, group_id: str, user_id: str) -> None:
    """Idempotent, as Keystone's PUT; the user's next tokens carry the group's roles."""
    if await _membership(session, group_id, user_id) is None:
        session.add(GroupMember(group_id=group_id, user_id=user_id))
        await session.flush()


def _not_member(group_id: str, user_id: str) -> str:
    return f"Could not find user {user_id} in group {group_id}."


async def check_member(session: AsyncSession, group_id: str, user_id: str) -> None:
    if await _membership(session, group_id, user_id) is None:
        raise NotFound(_not_member(group_id, user_id))


async def remove_member(
    session: AsyncSession, tokens: TokenService, group_id: str, user_id: str
) -> None:
    """The user loses the group's roles: its tokens are revoked."""
    row = await _membership(session, group_id, user_id)
    if row is None:
        raise NotFound(_not_member(group_id, user_id))
    await delete_or_not_found(session, row, _not_member(group_id, user_id))
    await tokens.revoke_user(session, user_id)
    await session.flush()
