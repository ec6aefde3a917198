"""Domains, projects and users: queries and changes behind the identity API (groups:
:mod:`stockyard.identity.groups`).

Functions flush but never commit: the route commits once, so a failure leaves nothing
half-written. Changes that take rights away (password change, disable, delete) revoke
the affected tokens in the same transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import (
    Domain,
    Group,
    GroupRoleAssignment,
    Project,
    RoleAssignment,
    User,
)
from stockyard.identity.bootstrap import DEFAULT_DOMAIN_ID
from stockyard.identity.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    delete_or_not_found,
)
from stockyard.identity.passwords import hash_password, verify_password
from stockyard.identity.tokens import TokenService, user_group_ids

_T = TypeVar("_T")


def _ci(column: Any) -> Any:
    return func.lower(column)


# Keystone's inexact filters: ``?name__contains=ab`` and so on.
INEXACT_OPS: dict[str, Callable[[Any, str], Any]] = {
    "equals": lambda c, v: c == v,
    "iequals": lambda c, v: _ci(c) == v.lower(),
    "contains": lambda c, v: c.contains(v, autoescape=True),
    "icontains": lambda c, v: _ci(c).contains(v.lower(), autoescape=True),
    "startswith": lambda c, v: c.startswith(v, autoescape=True),
    "istartswith": lambda c, v: _ci(c).startswith(v.lower(), autoescape=True),
    "endswith": lambda c, v: c.endswith(v, autoescape=True),
    "iendswith": lambda c, v: _ci(c).endswith(v.lower(), autoescape=True),
}


# The case-sensitive ones, checked again in Python: SQLite's and MariaDB's LIKE (and
# MariaDB's "=") ignore case.
_EXACT_CASE: dict[str, Callable[[str, str], bool]] = {
    "equals": lambda have, v: have == v,
    "contains": lambda have, v: v in have,
    "startswith": lambda have, v: have.startswith(v),
    "endswith": lambda have, v: have.endswith(v),
}


def _filtered(stmt: Select[_T], model: Any, filters: dict[str, Any]) -> Select[_T]:
    """``column=value`` filters (None: any), and ``column__op=value`` inexact ones."""
    for key, value in filters.items():
        if value is None:
            continue
        column, _, op = key.partition("__")
        if op:
            stmt = stmt.where(INEXACT_OPS[op](getattr(model, column), value))
        else:
            stmt = stmt.where(getattr(model, column) == value)
    return stmt


async def _flush(session: AsyncSession, what: str) -> None:
    """Flush, turning a unique-constraint race into the 409 a pre-check would give."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store {what}: duplicate entry.") from None


_M = TypeVar("_M", Domain, Project, User, Group)


async def _get(session: AsyncSession, model: type[_M], kind: str, ident: str) -> _M:
    """The row or keystone's "Could not find <kind>: <id>." 404."""
    row = await session.get(model, ident)
    if row is None:
        raise NotFound(_not_found(kind, ident))
    return row


def _not_found(kind: str, ident: str) -> str:
    return f"Could not find {kind}: {ident}."


async def _check_name(
    session: AsyncSession,
    model: type[Project] | type[User] | type[Group],
    domain_id: str,
    name: str,
) -> None:
    """Names are unique within a domain: 409 as keystone says it, before the INSERT."""
    taken = await session.scalar(
        select(model.id).where(model.domain_id == domain_id, model.name == name)
    )
    if taken is not None:
        kind = model.__name__.lower()
        raise Conflict(f"Conflict occurred attempting to store {kind} - name {name}.")


async def _list(session: AsyncSession, model: type[_M], filters: dict[str, Any]) -> list[_M]:
    """Rows of ``model`` by name that pass ``filters`` (see ``_filtered``)."""
    stmt = _filtered(select(model).order_by(model.name), model, filters)
    rows = list(await session.scalars(stmt))
    for key, value in filters.items():
        column, _, op = key.partition("__")
        check = _EXACT_CASE.get(op)
        if check is not None and value is not None:
            rows = [r for r in rows if check(getattr(r, column), value)]
    return rows


# ---- domains ----


async def list_domains(session: AsyncSession, **filters: Any) -> list[Domain]:
    return await _list(session, Domain, filters)


async def get_domain(session: AsyncSession, domain_id: str) -> Domain:
    return await _get(session, Domain, "domain", domain_id)


async def create_domain(session: AsyncSession, fields: dict[str, Any]) -> Domain:
    if await session.scalar(select(Domain.id).where(Domain.name == fields["name"])):
        raise Conflict(f"Conflict occurred attempting to store domain - name {fields['name']}.")
    domain = Domain(**fields)
    session.add(domain)
    await _flush(session, "domain")
    return domain


async def update_domain(
    session: AsyncSession, tokens: TokenService, domain: Domain, changes: dict[str, Any]
) -> Domain:
    """Rename, describe, enable or disable; disabling revokes every token of its users
    and projects and every token scoped to it."""
    if "name" in changes and changes["name"] != domain.name:
        taken = await session.scalar(select(Domain.id).where(Domain.name == changes["name"]))
        if taken is not None:
            raise Conflict(
                f"Conflict occurred attempting to store domain - name {changes['name']}."
            )
    if changes.get("enabled") is False and domain.id == DEFAULT_DOMAIN_ID:
        raise Forbidden("The default domain cannot be disabled.")
    for key, value in changes.items():
        setattr(domain, key, value)
    if changes.get("enabled") is False:
        await _revoke_domain(session, tokens, domain.id)
    await _flush(session, "domain")
    return domain


async def _revoke_domain(session: AsyncSession, tokens: TokenService, domain_id: str) -> None:
    for user_id in await session.scalars(select(User.id).where(User.domain_id == domain_id)):
        await tokens.revoke_user(session, user_id)
    for project_id in await session.scalars(
        select(Project.id).where(Project.domain_id == domain_id)
    ):
        await tokens.revoke_project(session, project_id)
    await tokens.revoke_domain(session, domain_id)


async def delete_domain(session: AsyncSession, tokens: TokenService, domain: Domain) -> None:
    """Keystone's rule: only a disabled domain may be deleted; its projects, users and
    groups go with it."""
    if domain.enabled:
        raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
    if domain.id == DEFAULT_DOMAIN_ID:
        raise Forbidden("The default domain cannot be deleted.")
    await _revoke_domain(session, tokens, domain.id)
    for model in (Group, User, Project):
        await session.execute(delete(model).where(model.domain_id == domain.id))
    await delete_or_not_found(session, domain, _not_found("domain", domain.id))
    await session.flush()


# ---- projects ----


async def list_projects(session: AsyncSession, **filters: Any) -> list[Project]:
    return await _list(session, Project, filters)


async def get_project(session: AsyncSession, project_id: str) -> Project:
    return await _get(session, Project, "project", project_id)


async def create_project(session: AsyncSession, fields: dict[str, Any]) -> Project:
    """``fields``: name, domain_id, description, enabled, tags."""
    await get_domain(session, fields["domain_id"])
    await _check_name(session, Project, fields["domain_id"], fields["name"])
    tags = fields.pop("tags", None) or []
    project = Project(**fields, extra={"tags": tags})
    session.add(project)
    await _flush(session, "project")
    return project


async def update_project(
    session: AsyncSession, tokens: TokenService, project: Project, changes: dict[str, Any]
) -> Project:
    if "name" in changes and changes["name"] != project.name:
        await _check_name(session, Project, project.domain_id, changes["name"])
    if "tags" in changes:
        project.extra = {**project.extra, "tags": changes.pop("tags") or []}
    for key, value in changes.items():
        setattr(project, key, value)
    if changes.get("enabled") is False:
        await tokens.revoke_project(session, project.id)
    await _flush(session, "project")
    return project


async def delete_project(session: AsyncSession, tokens: TokenService, project: Project) -> None:
    await tokens.revoke_project(session, project.id)
    await delete_or_not_found(session, project, _not_found("project", project.id))
    await session.flush()


# ---- users ----


async def list_users(session: AsyncSession, **filters: Any) -> list[User]:
    return await _list(session, User, filters)


async def get_user(session: AsyncSession, user_id: str) -> User:
    return await _get(session, User, "user", user_id)


async def _check_default_project(session: AsyncSession, project_id: str | None) -> None:
    if project_id is not None and await session.get(Project, project_id) is None:
        raise BadRequest(f"Invalid default_project_id: project {project_id} does not exist.")


async def create_user(session: AsyncSession, fields: dict[str, Any]) -> User:
    """``fields``: name, domain_id, password (clear, hashed here), enabled, email, ..."""
    await get_domain(session, fields["domain_id"])
    await _check_name(session, User, fields["domain_id"], fields["name"])
    await _check_default_project(session, fields.get("default_project_id"))
    password = fields.pop("password", None)
    user = User(**fields)
    if password is not None:
        user.password_hash = await asyncio.to_thread(hash_password, password)
    session.add(user)
    await _flush(session, "user")
    return user


async def update_user(
    session: AsyncSession, tokens: TokenService, user: User, changes: dict[str, Any]
) -> User:
    """Apply ``changes``; a new password or disabling the user revokes its tokens."""
    if "name" in changes and changes["name"] != user.name:
        await _check_name(session, User, user.domain_id, changes["name"])
    if "default_project_id" in changes:
        await _check_default_project(session, changes["default_project_id"])
    password = changes.pop("password", None)
    for key, value in changes.items():
        setattr(user, key, value)
    if password is not None:
        user.password_hash = await asyncio.to_thread(hash_password, password)
    if password is not None or changes.get("enabled") is False:
        await tokens.revoke_user(session, user.id)
    await _flush(session, "user")
    return user


async def delete_user(session: AsyncSession, tokens: TokenService, user: User) -> None:
    # Token rows go with the user (ON DELETE CASCADE); revoking first also empties the cache.
    await tokens.revoke_user(session, user.id)
    await delete_or_not_found(session, user, _not_found("user", user.id))
    await session.flush()


async def change_password(
    session: AsyncSession, tokens: TokenService, user_id: str, original: str, new: str
) -> None:
    """Self-service change: the original password proves who asks, as in Keystone."""
    user = await session.get(User, user_id)
    ok = user is not None and await asyncio.to_thread(verify_password, user.password_hash, original)
    if user is None or not ok or not user.enabled:
        raise Unauthorized("The request you have made requires authentication.")
    user.password_hash = await asyncio.to_thread(hash_password, new)
    await tokens.revoke_user(session, user.id)
    await session.flush()


async def user_projects(session: AsyncSession, user_id: str) -> list[Project]:
    """Enabled projects on which the user holds at least one role: directly, through one
    of its groups, or inherited from the project's domain (OS-INHERIT)."""
    groups = user_group_ids(user_id)
    # Subqueries, not JOIN + DISTINCT: PostgreSQL cannot compare the JSON column.
    assigned = select(RoleAssignment.project_id).where(
        RoleAssignment.user_id == user_id, RoleAssignment.inherited.is_(False)
    )
    via_group = select(GroupRoleAssignment.project_id).where(
        GroupRoleAssignment.group_id.in_(groups), GroupRoleAssignment.inherited.is_(False)
    )
    inherited = select(RoleAssignment.domain_id).where(
        RoleAssignment.user_id == user_id, RoleAssignment.inherited.is_(True)
    )
    inherited_via_group = select(GroupRoleAssignment.domain_id).where(
        GroupRoleAssignment.group_id.in_(groups), GroupRoleAssignment.inherited.is_(True)
    )
    stmt = (
        select(Project)
        .where(
            or_(
                Project.id.in_(assigned),
                Project.id.in_(via_group),
                Project.domain_id.in_(inherited),
                Project.domain_id.in_(inherited_via_group),
            ),
            Project.enabled.is_(True),
        )
        .order_by(Project.name)
    )
    return list(await session.scalars(stmt))


async def user_domains(session: AsyncSession, user_id: str) -> list[Domain]:
    """Enabled domains on which the user holds at least one (not inherited) role."""
    assigned = select(RoleAssignment.domain_id).where(
        RoleAssignment.user_id == user_id, RoleAssignment.inherited.is_(False)
    )
    via_group = select(GroupRoleAssignment.domain_id).where(
        GroupRoleAssignment.group_id.in_(user_group_ids(user_id)),
        GroupRoleAssignment.inherited.is_(False),
    )
    stmt = (
        select(Domain)
        .where(or_(Domain.id.in_(assigned), Domain.id.in_(via_group)), Domain.enabled.is_(True))
        .order_by(Domain.name)
    )
    return list(await session.scalars(stmt))
