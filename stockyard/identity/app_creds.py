"""Application credentials (Keystone's): a user delegates some of its roles on one project
to an application, which then authenticates with the credential's id (or name and user)
and secret instead of the user's password.

Rules, as Keystone's:
- Only the user itself creates one, with a project-scoped token; the project is the
  token's, the roles a subset of the token's (all of them by default).
- A token issued with a *restricted* credential (the default) may not create or delete
  application credentials, so a leaked secret cannot mint more of them.
- The secret is shown once, at creation; only its argon2 hash is kept.
- A token from a credential gets the delegated roles the user *still* holds on the
  project; a credential whose roles are all gone, or that expired, authenticates no more.
- Deleting a credential revokes the tokens issued with it.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.db.base import utcnow
from stockyard.db.models import Project, Role, Token, User
from stockyard.db.models.identity import ApplicationCredential
from stockyard.identity.context import RequestContext
from stockyard.identity.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    delete_or_not_found,
)
from stockyard.identity.passwords import hash_password, verify_password
from stockyard.identity.tokens import assigned_role_names, with_implied

AUTH_FAILED = "The request you have made requires authentication."
METHOD = "application_credential"


def _deny_restricted(ctx: RequestContext, restricted: bool) -> None:
    if restricted:
        raise Forbidden(
            "Using method 'application_credential' is not allowed for managing "
            "additional application credentials."
        )


async def _issued_restricted(session: AsyncSession, ctx: RequestContext) -> bool:
    """Whether the caller's token came from a restricted application credential."""
    token = await session.get(Token, ctx.token_digest)
    if token is None or token.app_cred_id is None:
        return False
    cred = await session.get(ApplicationCredential, token.app_cred_id)
    return cred is None or not cred.unrestricted


async def role_refs(session: AsyncSession, names: list[str]) -> list[dict[str, str]]:
    """``[{"id", "name"}]`` for role names, in the given order."""
    rows = await session.execute(select(Role.name, Role.id).where(Role.name.in_(names)))
    ids = dict(rows.all())
    return [{"id": ids[name], "name": name} for name in names if name in ids]


async def _resolve_roles(
    session: AsyncSession, ctx: RequestContext, asked: list[dict[str, str]] | None
) -> list[str]:
    if not asked:  # Keystone: the roles of the current token
        return list(ctx.roles)
    # Asked roles are checked against the user's assignments now, not the token's (a
    # role granted after the token was issued may be delegated).
    assert ctx.project_id is not None
    held = with_implied(await assigned_role_names(session, ctx.user_id, project_id=ctx.project_id))
    names: list[str] = []
    for ref in asked:
        role: Role | None = None
        if ref.get("id"):
            role = await session.get(Role, ref["id"])
        elif ref.get("name"):
            role = await session.scalar(select(Role).where(Role.name == ref["name"]))
        if role is None:
            raise NotFound(f"Could not find role: {ref.get('id') or ref.get('name')}.")
        if role.name not in held:
            raise Forbidden(
                f"Cannot delegate role {role.name}: the user does not hold it on the project."
            )
        if role.name not in names:
            names.append(role.name)
    return names


async def create(
    session: AsyncSession,
    ctx: RequestContext,
    user_id: str,
    *,
    name: str,
    description: str | None,
    secret: str | None,
    expires_at: datetime | None,
    roles: list[dict[str, str]] | None,
    unrestricted: bool,
) -> tuple[ApplicationCredential, str]:
    """A new credential and its secret (the only time the secret is seen)."""
    if ctx.user_id != user_id:
        raise Forbidden("You are not authorized to perform the requested action.")
    _deny_restricted(ctx, await _issued_restricted(session, ctx))
    if ctx.project_id is None:
        raise Forbidden(
            "An application credential is created with a project-scoped token: "
            "its project is the token's."
        )
    if expires_at is not None and expires_at.tzinfo is not None:
        # Stored naive UTC, as every timestamp here; "...Z" and "+05:00" are both valid.
        expires_at = expires_at.astimezone(UTC).replace(tzinfo=None)
    if expires_at is not None and expires_at <= utcnow():
        raise BadRequest(
            "Invalid input for field/attribute application_credential.expires_at: "
            "it is in the past."
        )
    names = await _resolve_roles(session, ctx, roles)
    secret = secret or secrets.token_urlsafe(48)
    cred = ApplicationCredential(
        name=name,
        description=description,
        user_id=user_id,
        project_id=ctx.project_id,
        secret_hash=await asyncio.to_thread(hash_password, secret),
        roles=names,
        unrestricted=unrestricted,
        expires_at=expires_at,
    )
    session.add(cred)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"Duplicate entry found with name {name} for user {user_id}.") from None
    return cred, secret


def _may_read(ctx: RequestContext, user_id: str) -> None:
    if not ctx.is_admin and ctx.user_id != user_id:
        raise Forbidden("You are not authorized to perform the requested action.")


async def list_for(
    session: AsyncSession, ctx: RequestContext, user_id: str, name: str | None
) -> list[ApplicationCredential]:
    _may_read(ctx, user_id)
    if await session.get(User, user_id) is None:
        raise NotFound(f"Could not find user: {user_id}.")
    stmt = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
    if name is not None:
        stmt = stmt.where(ApplicationCredential.name == name)
    return list(await session.scalars(stmt.order_by(ApplicationCredential.created_at)))


async def get(
    session: AsyncSession, ctx: RequestContext, user_id: str, cred_id: str
) -> ApplicationCredential:
    _may_read(ctx, user_id)
    cred = await session.get(ApplicationCredential, cred_id)
    if cred is None or cred.user_id != user_id:
        raise NotFound(_not_found(cred_id))
    return cred


def _not_found(cred_id: str) -> str:
    return f"Could not find Application Credential: {cred_id}."


async def delete(session: AsyncSession, ctx: RequestContext, user_id: str, cred_id: str) -> None:
    """Delete the credential and revoke every token issued with it."""
    cred = await get(session, ctx, user_id, cred_id)
    _deny_restricted(ctx, await _issued_restricted(session, ctx))
    await session.execute(update(Token).where(Token.app_cred_id == cred.id).values(revoked=True))
    await delete_or_not_found(session, cred, _not_found(cred_id))


async def authenticate(
    session: AsyncSession,
    *,
    cred_id: str | None,
    name: str | None,
    user: User | None,
    secret: str,
) -> tuple[ApplicationCredential, User, Project, list[str]]:
    """The credential, its user and project and the roles a token from it carries, or
    ``Unauthorized`` (one message for every failure, as password logins)."""
    cred: ApplicationCredential | None = None
    if cred_id is not None:
        cred = await session.get(ApplicationCredential, cred_id)
    elif name is not None and user is not None:
        cred = await session.scalar(
            select(ApplicationCredential).where(
                ApplicationCredential.user_id == user.id, ApplicationCredential.name == name
            )
        )
    stored = cred.secret_hash if cred is not None else None
    ok = await asyncio.to_thread(verify_password, stored, secret)
    if cred is None or not ok:
        raise Unauthorized(AUTH_FAILED)
    if cred.expires_at is not None and cred.expires_at <= utcnow():
        raise Unauthorized(AUTH_FAILED)
    owner = await session.get(User, cred.user_id)
    project = await session.get(Project, cred.project_id)
    if owner is None or not owner.enabled or project is None or not project.enabled:
        raise Unauthorized(AUTH_FAILED)
    # A delegated role counts while the user holds it, or a role implying it.
    still_held = with_implied(await assigned_role_names(session, owner.id, project_id=project.id))
    roles = [r for r in cred.roles if r in still_held]
    if not roles:
        raise Unauthorized(AUTH_FAILED)
    return cred, owner, project, roles
