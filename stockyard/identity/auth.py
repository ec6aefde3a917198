"""Authentication (password and token methods) and scope resolution for token issue.

Every credential failure raises the same ``Unauthorized`` message, so a caller cannot
tell an unknown user from a wrong password or a disabled account.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.models import Domain, Project, Token, User
from stockyard.identity.errors import Unauthorized
from stockyard.identity.passwords import hash_password, verify_password
from stockyard.identity.tokens import TokenError, TokenService, assigned_role_names, digest

AUTH_FAILED = "The request you have made requires authentication."

_dummy_hash: str | None = None


async def _dummy() -> str:
    """A hash to verify against when the user is unknown, so both paths cost the same."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = await asyncio.to_thread(hash_password, "not-a-password")
    return _dummy_hash


@dataclass(frozen=True)
class Ref:
    """An id-or-name reference as in the auth body, with an optional domain."""

    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass
class Subject:
    """The authenticated user and what the token method carried over."""

    user: User
    methods: list[str]
    expires_at: datetime | None = None
    # Set when the user was proven by an application credential: (credential id, its
    # project, the roles the token carries).
    delegation: tuple[str, Project, list[str]] | None = None


async def find_domain(session: AsyncSession, ref: Ref) -> Domain | None:
    if ref.id is not None:
        return await session.get(Domain, ref.id)
    return await session.scalar(select(Domain).where(Domain.name == ref.name))


async def _domain_of(session: AsyncSession, ref: Ref) -> Domain | None:
    return await find_domain(session, Ref(id=ref.domain_id, name=ref.domain_name))


async def find_user(session: AsyncSession, ref: Ref) -> User | None:
    """The user ``ref`` names (by id, or by name in an enabled domain)."""
    if ref.id is not None:
        return await session.get(User, ref.id)
    domain = await _domain_of(session, ref)
    if domain is None or not domain.enabled:
        return None
    user: User | None = await session.scalar(
        select(User).where(User.domain_id == domain.id, User.name == ref.name)
    )
    return user


async def password_auth(session: AsyncSession, ref: Ref, password: str) -> User:
    """The enabled user ``ref`` names if ``password`` is theirs, else ``Unauthorized``."""
    user = await find_user(session, ref)
    stored = user.password_hash if user is not None else await _dummy()
    ok = await asyncio.to_thread(verify_password, stored, password)
    if user is None or not ok or not user.enabled:
        raise Unauthorized(AUTH_FAILED)
    return user


async def token_auth(session: AsyncSession, tokens: TokenService, token: str) -> Subject:
    """Re-scoping: the subject of a live token; the new token expires no later."""
    try:
        ctx = await tokens.validate(session, token)
    except TokenError:
        raise Unauthorized(AUTH_FAILED) from None
    row = await session.get(Token, digest(token))
    user = await session.get(User, ctx.user_id)
    if row is None or user is None:
        raise Unauthorized(AUTH_FAILED)
    return Subject(user=user, methods=list(row.methods), expires_at=row.expires_at)


async def _has_role(session: AsyncSession, user_id: str, project_id: str) -> bool:
    """A role on the project, held directly or through a group."""
    return bool(await assigned_role_names(session, user_id, project_id=project_id))


async def scope_project(session: AsyncSession, user: User, ref: Ref) -> Project:
    """The project ``ref`` names, if enabled and the user has a role on it."""
    project: Project | None
    if ref.id is not None:
        project = await session.get(Project, ref.id)
    else:
        domain = await _domain_of(session, ref)
        project = None
        if domain is not None:
            project = await session.scalar(
                select(Project).where(Project.domain_id == domain.id, Project.name == ref.name)
            )
    target = ref.id or ref.name
    if project is None:
        raise Unauthorized(f"Could not find project: {target}.")
    if not project.enabled:
        raise Unauthorized(f"Project {project.id} is disabled.")
    if not await _has_role(session, user.id, project.id):
        raise Unauthorized(f"User {user.id} has no access to project {project.id}.")
    return project


async def scope_domain(session: AsyncSession, user: User, ref: Ref) -> Domain:
    """The domain ``ref`` names, if enabled and the user has a role on it."""
    domain = await find_domain(session, ref)
    if domain is None:
        raise Unauthorized(f"Could not find domain: {ref.id or ref.name}.")
    if not domain.enabled:
        raise Unauthorized(f"Domain {domain.id} is disabled.")
    if not await assigned_role_names(session, user.id, domain_id=domain.id):
        raise Unauthorized(f"User {user.id} has no access to domain {domain.id}.")
    return domain


async def scope_system(session: AsyncSession, user: User) -> None:
    """``Unauthorized`` unless the user holds a role on the system (directly or by group)."""
    if not await assigned_role_names(session, user.id, system=True):
        raise Unauthorized(f"User {user.id} has no access to the system.")


async def default_project(session: AsyncSession, user: User) -> Project | None:
    """Keystone scopes a scope-less password login to the user's default project, if the
    project is enabled and the user has a role on it; otherwise the token is unscoped."""
    if not user.default_project_id:
        return None
    project = await session.get(Project, user.default_project_id)
    if project is None or not project.enabled:
        return None
    if not await _has_role(session, user.id, project.id):
        return None
    return project
