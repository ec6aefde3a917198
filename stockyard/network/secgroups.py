"""Security groups and rules: each project's ``default`` group, CRUD, duplicate checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import (
    DefaultSecurityGroup,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from stockyard.identity.context import RequestContext
from stockyard.network import port_sync, quota
from stockyard.network.errors import Conflict, delete_or_not_found, not_found
from stockyard.network.sgrules import Rule, validate

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"


def _default_rules(group_id: str) -> list[Rule]:
    """Neutron's: all egress, and ingress from members of the same group, v4 and v6."""
    return [
        Rule(
            direction,
            ethertype,
            None,
            None,
            None,
            None,
            group_id if direction == "ingress" else None,
        )
        for ethertype in ("IPv4", "IPv6")
        for direction in ("egress", "ingress")
    ]


def _rule_row(group: SecurityGroup, rule: Rule, description: str = "") -> SecurityGroupRule:
    return SecurityGroupRule(
        security_group_id=group.id,
        project_id=group.project_id,
        direction=rule.direction,
        ethertype=rule.ethertype,
        protocol=rule.protocol,
        port_range_min=rule.port_range_min,
        port_range_max=rule.port_range_max,
        remote_ip_prefix=rule.remote_ip_prefix,
        remote_group_id=rule.remote_group_id,
        description=description,
        fingerprint=rule.fingerprint(),
    )


async def default_group_id(session: AsyncSession, project_id: str) -> str | None:
    return await session.scalar(
        select(DefaultSecurityGroup.security_group_id).where(
            DefaultSecurityGroup.project_id == project_id
        )
    )


async def ensure_default(session: AsyncSession, project_id: str) -> str:
    """The project's default group's id, created with Neutron's rules on first use.

    The ``default_security_groups`` primary key decides a race: the loser's savepoint
    rolls back and it reads the winner's group.
    """
    found = await default_group_id(session, project_id)
    if found is not None:
        return found
    group = SecurityGroup(project_id=project_id, name=DEFAULT_NAME, description=DEFAULT_DESCRIPTION)
    try:
        async with session.begin_nested():
            session.add(group)
            await session.flush()
            session.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
            await session.flush()
            session.add_all(_rule_row(group, rule) for rule in _default_rules(group.id))
    except IntegrityError:
        found = await default_group_id(session, project_id)
        if found is None:
            raise
        return found
    return group.id


def can_see(ctx: RequestContext, project_id: str) -> bool:
    return ctx.is_admin or ctx.project_id == project_id


async def get_group(session: AsyncSession, ctx: RequestContext, group_id: str) -> SecurityGroup:
    group = await session.get(SecurityGroup, group_id)
    if group is None or not can_see(ctx, group.project_id):
        raise not_found("SecurityGroup", group_id)
    return group


async def create_group(
    session: AsyncSession, project_id: str, name: str, description: str
) -> SecurityGroup:
    await ensure_default(session, project_id)
    if name == DEFAULT_NAME:
        raise Conflict(
            "Default security group already exists.", type="SecurityGroupDefaultAlreadyExists"
        )
    await quota.check(session, project_id, "security_group")
    group = SecurityGroup(project_id=project_id, name=name, description=description)
    session.add(group)
    await session.flush()
    # Neutron gives every new group the two egress rules.
    for ethertype in ("IPv4", "IPv6"):
        session.add(_rule_row(group, Rule("egress", ethertype, None, None, None, None, None)))
    await session.flush()
    return group


async def update_group(
    session: AsyncSession, ctx: RequestContext, group_id: str, changes: dict[str, Any]
) -> SecurityGroup:
    group = await get_group(session, ctx, group_id)
    is_default = await default_group_id(session, group.project_id) == group.id
    if "name" in changes and changes["name"] != group.name:
        if is_default:
            raise Conflict(
                "Updating default security group not allowed.",
                type="SecurityGroupCannotUpdateDefault",
            )
        if changes["name"] == DEFAULT_NAME:
            raise Conflict(
                "Default security group already exists.", type="SecurityGroupDefaultAlreadyExists"
            )
    for key in ("name", "description"):
        if key in changes:
            setattr(group, key, changes[key])
    group.revision_number += 1
    await session.flush()
    return group


async def delete_group(session: AsyncSession, ctx: RequestContext, group_id: str) -> None:
    group = await get_group(session, ctx, group_id)
    if await default_group_id(session, group.project_id) == group.id and not ctx.is_admin:
        raise Conflict(
            "Insufficient rights for removing default security group.",
            type="SecurityGroupCannotRemoveDefault",
        )
    used = await session.scalar(
        select(func.count())
        .select_from(PortSecurityGroup)
        .where(PortSecurityGroup.security_group_id == group.id)
    )
    if used:
        raise Conflict(f"Security Group {group.id} in use.", type="SecurityGroupInUse")
    await session.execute(
        delete(SecurityGroupRule).where(SecurityGroupRule.security_group_id == group.id)
    )
    await session.execute(
        delete(DefaultSecurityGroup).where(DefaultSecurityGroup.security_group_id == group.id)
    )
    await delete_or_not_found(session, group, "SecurityGroup")


async def rules_of(
    session: AsyncSession, group_ids: list[str]
) -> dict[str, list[SecurityGroupRule]]:
    out: dict[str, list[SecurityGroupRule]] = {gid: [] for gid in group_ids}
    if group_ids:
        rows = await session.scalars(
            select(SecurityGroupRule)
            .where(SecurityGroupRule.security_group_id.in_(group_ids))
            .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)
        )
        for row in rows:
            out[row.security_group_id].append(row)
    return out


async def create_rule(
    session: AsyncSession, ctx: RequestContext, body: dict[str, Any]
) -> SecurityGroupRule:
    group_id = str(body.get("security_group_id"))
    rule = validate(body)
    group = await get_group(session, ctx, group_id)
    if rule.remote_group_id is not None:
        await get_group(session, ctx, rule.remote_group_id)
    await quota.check(session, group.project_id, "security_group_rule")
    existing = await session.scalar(
        select(SecurityGroupRule.id).where(
            SecurityGroupRule.security_group_id == group.id,
            SecurityGroupRule.fingerprint == rule.fingerprint(),
        )
    )
    row = _rule_row(group, rule, str(body.get("description") or ""))
    if existing is None:
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            existing = await session.scalar(
                select(SecurityGroupRule.id).where(
                    SecurityGroupRule.security_group_id == group.id,
                    SecurityGroupRule.fingerprint == rule.fingerprint(),
                )
            )
    if existing is not None:
        raise Conflict(
            f"Security group rule already exists. Rule id is {existing}.",
            type="SecurityGroupRuleExists",
        )
    # The members' servers first, then the group's row: a server's bind holds its row
    # and then needs the group's (its ports' group rows point at it; InnoDB locks the
    # parent row of such an insert), so the other order deadlocked on MariaDB.
    await port_sync.groups_changed(session, [group.id])
    group.revision_number += 1
    await session.flush()
    return row


async def get_rule(session: AsyncSession, ctx: RequestContext, rule_id: str) -> SecurityGroupRule:
    row = await session.get(SecurityGroupRule, rule_id)
    if row is None or not can_see(ctx, row.project_id):
        raise not_found("SecurityGroupRule", rule_id)
    return row


async def delete_rule(session: AsyncSession, ctx: RequestContext, rule_id: str) -> None:
    row = await get_rule(session, ctx, rule_id)
    await delete_or_not_found(session, row, "SecurityGroupRule")
    await port_sync.groups_changed(session, [row.security_group_id])  # before the group
    group = await session.get(SecurityGroup, row.security_group_id)
    if group is not None:
        group.revision_number += 1
