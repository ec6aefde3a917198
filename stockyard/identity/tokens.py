"""Token issue, validation and revocation.

Tokens are 256-bit random strings handed to the client once; only their SHA-256 digest is
stored. Validation is a primary-key lookup, cached in memory for a few seconds so that the
hot API path does not hit the database on every call. A revocation clears the local cache
at once; other API processes see it within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import utcnow
from stockyard.db.models import (
    GroupMember,
    GroupRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    SystemRoleAssignment,
    Token,
    User,
)
from stockyard.identity.context import RequestContext

CACHE_SECONDS = 5.0


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class IssuedToken:
    token: str
    context: RequestContext
    issued_at: datetime
    methods: list[str]


class TokenError(Exception):
    """The token is unknown, expired or revoked."""


def user_group_ids(user_id: str) -> Select[Any]:
    """The ids of the groups ``user_id`` belongs to, as a subquery."""
    return select(GroupMember.group_id).where(GroupMember.user_id == user_id)


async def assigned_role_names(
    session: AsyncSession,
    user_id: str,
    project_id: str | None = None,
    domain_id: str | None = None,
    system: bool = False,
) -> set[str]:
    """Names of the roles the user holds on the target, directly or through a group
    (no implied roles). Exactly one of project, domain or system is the target; a
    project also gets the roles inherited from its domain."""
    groups = user_group_ids(user_id)
    if system:
        stmt = (
            select(Role.name)
            .join(SystemRoleAssignment, SystemRoleAssignment.role_id == Role.id)
            .where(
                or_(
                    SystemRoleAssignment.user_id == user_id,
                    SystemRoleAssignment.group_id.in_(groups),
                )
            )
        )
        return set(await session.scalars(stmt))
    if project_id is not None:
        # The project's own grants, and the inherited grants of its domain (OS-INHERIT).
        project_domain = select(Project.domain_id).where(Project.id == project_id)
        direct = or_(
            and_(RoleAssignment.project_id == project_id, RoleAssignment.inherited.is_(False)),
            and_(RoleAssignment.domain_id.in_(project_domain), RoleAssignment.inherited.is_(True)),
        )
        via_group = or_(
            and_(
                GroupRoleAssignment.project_id == project_id,
                GroupRoleAssignment.inherited.is_(False),
            ),
            and_(
                GroupRoleAssignment.domain_id.in_(project_domain),
                GroupRoleAssignment.inherited.is_(True),
            ),
        )
    elif domain_id is not None:
        direct = and_(RoleAssignment.domain_id == domain_id, RoleAssignment.inherited.is_(False))
        via_group = and_(
            GroupRoleAssignment.domain_id == domain_id, GroupRoleAssignment.inherited.is_(False)
        )
    else:
        return set()
    mine = (
        select(Role.name)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user_id, direct)
    )
    theirs = (
        select(Role.name)
        .join(GroupRoleAssignment, GroupRoleAssignment.role_id == Role.id)
        .where(GroupRoleAssignment.group_id.in_(groups), via_group)
    )
    return set(await session.scalars(mine)) | set(await session.scalars(theirs))


def with_implied(names: set[str] | list[str]) -> list[str]:
    """Role names plus the ones they imply, as Keystone's defaults: admin implies
    manager, manager implies member, member implies reader."""
    out = set(names)
    if "admin" in out:
        out.add("manager")
    if "manager" in out:
        out.add("member")
    if "member" in out:
        out.add("reader")
    return sorted(out)


class TokenService:
    """Issues and validates tokens against the database, with a short local cache."""

    def __init__(self, ttl_seconds: int) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self._cache: dict[str, tuple[float, RequestContext]] = {}

    async def roles_for(
        self,
        session: AsyncSession,
        user_id: str,
        project_id: str | None,
        domain_id: str | None = None,
        system: bool = False,
    ) -> list[str]:
        """Role names (with implied ones) on a project, a domain or the system, held
        directly or through the user's groups."""
        names = await assigned_role_names(session, user_id, project_id, domain_id, system)
        return with_implied(names)

    async def issue(
        self,
        session: AsyncSession,
        user: User,
        project: Project | None,
        methods: list[str],
        expires_at: datetime | None = None,
        domain_scope: str | None = None,
        system: bool = False,
        delegated: tuple[str, list[str]] | None = None,
    ) -> IssuedToken:
        """A new token for ``user``, scoped to ``project``, to ``domain_scope``, to the
        system (``system``) or unscoped.

        The row's ``domain_id`` is the domain scope (None unless domain-scoped); the
        user's own domain is on the user row. ``delegated`` is ``(application credential
        id, its roles)`` for a token from an application credential.
        """
        token = secrets.token_urlsafe(32)
        now = utcnow()
        expires = min(expires_at, now + self.ttl) if expires_at else now + self.ttl
        if project is not None or system:
            domain_scope = None
        if system:
            project = None
        if delegated is not None:
            roles = with_implied(delegated[1])
        else:
            roles = await self.roles_for(
                session, user.id, project.id if project else None, domain_scope, system
            )
        row = Token(
            digest=digest(token),
            audit_id=secrets.token_urlsafe(16)[:22],
            user_id=user.id,
            project_id=project.id if project else None,
            domain_id=domain_scope,
            system=system,
            roles=roles,
            methods=methods,
            issued_at=now,
            expires_at=expires,
            app_cred_id=delegated[0] if delegated else None,
        )
        session.add(row)
        ctx = RequestContext(
            user_id=user.id,
            user_name=user.name,
            project_id=project.id if project else None,
            project_name=project.name if project else None,
            domain_id=user.domain_id,
            roles=tuple(roles),
            token_digest=row.digest,
            audit_id=row.audit_id,
            expires_at=expires,
            system_scope=system,
        )
        return IssuedToken(token=token, context=ctx, issued_at=now, methods=methods)

    async def validate(self, session: AsyncSession, token: str) -> RequestContext:
        """The context of a live token, or ``TokenError``."""
        key = digest(token)
        now_mono = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now_mono and hit[1].expires_at > utcnow():
            return hit[1]
        row = (
            await session.execute(
                select(Token, User, Project)
                .join(User, User.id == Token.user_id)
                .outerjoin(Project, Project.id == Token.project_id)
                .where(Token.digest == key)
            )
        ).one_or_none()
        if row is None:
            raise TokenError("The request you have made requires authentication.")
        tok, user, project = row
        if tok.revoked or tok.expires_at <= utcnow():
            self._cache.pop(key, None)
            raise TokenError("The token has expired or has been revoked.")
        if tok.project_id is not None and project is None:
            raise TokenError("The project of this token no longer exists.")
        if not user.enabled or (project is not None and not project.enabled):
            raise TokenError("The user or project of this token is disabled.")
        ctx = RequestContext(
            user_id=user.id,
            user_name=user.name,
            project_id=tok.project_id,
            project_name=project.name if project else None,
            domain_id=user.domain_id,
            roles=tuple(tok.roles),
            token_digest=key,
            audit_id=tok.audit_id,
            expires_at=tok.expires_at,
            system_scope=tok.system,
        )
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[key] = (now_mono + CACHE_SECONDS, ctx)
        return ctx

    def forget_all(self) -> None:
        """Drop the local cache (after revoking tokens it cannot pick out, e.g. those of
        a deleted application credential); entries are rebuilt from the database."""
        self._cache.clear()

    async def revoke(self, session: AsyncSession, token: str) -> bool:
        key = digest(token)
        self._cache.pop(key, None)
        result = await session.execute(
            update(Token).where(Token.digest == key, Token.revoked.is_(False)).values(revoked=True)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def revoke_user(
        self, session: AsyncSession, user_id: str, project_id: str | None = None
    ) -> None:
        """Revoke every token of a user (password change, user disabled or deleted), or
        only those scoped to ``project_id`` (a role on it was removed)."""
        self._cache = {
            k: v
            for k, v in self._cache.items()
            if not (v[1].user_id == user_id and project_id in (None, v[1].project_id))
        }
        stmt = update(Token).where(Token.user_id == user_id)
        if project_id is not None:
            stmt = stmt.where(Token.project_id == project_id)
        await session.execute(stmt.values(revoked=True))

    async def revoke_domain(self, session: AsyncSession, domain_id: str) -> None:
        """Revoke every token scoped to a domain (domain disabled or deleted)."""
        # The cache does not record a domain scope: drop it all (entries are rebuilt
        # from the database within a request).
        self._cache.clear()
        await session.execute(
            update(Token).where(Token.domain_id == domain_id).values(revoked=True)
        )

    async def revoke_project(self, session: AsyncSession, project_id: str) -> None:
        """Revoke every token scoped to a project (project disabled or deleted)."""
        self._cache = {k: v for k, v in self._cache.items() if v[1].project_id != project_id}
        await session.execute(
            update(Token).where(Token.project_id == project_id).values(revoked=True)
        )
