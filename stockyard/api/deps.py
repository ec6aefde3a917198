"""Dependency aliases that keep route signatures short (see STYLE.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion, negotiate
from stockyard.api.state import APIState
from stockyard.identity.context import RequestContext
from stockyard.identity.tokens import TokenError


# Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def``
# dependency in its worker thread pool, a thread hop per dependency per request (~13% of
# the CPU of a create, py-spy on 2 cores).
async def get_state(request: Request) -> APIState:
    state: APIState = request.app.state.sy
    return state


StateDep = Annotated[APIState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """A session; routes that write call ``await session.commit()`` themselves, so the
    commit happens before the response is built. Anything uncommitted is rolled back."""
    async with state.db.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def require_auth(request: Request, state: StateDep) -> RequestContext:
    token = request.headers.get("x-auth-token")
    if not token:
        raise APIError(
            401,
            "The request you have made requires authentication.",
            headers={"WWW-Authenticate": f'Keystone uri="{state.settings.base_url}/identity"'},
        )
    async with state.db.sessionmaker() as session:
        try:
            ctx = await state.tokens.validate(session, token)
        except TokenError as exc:
            raise APIError(401, str(exc)) from None
    request.state.context = ctx
    return ctx


Ctx = Annotated[RequestContext, Depends(require_auth)]


async def require_project(ctx: Ctx) -> RequestContext:
    """Compute and image calls need a project-scoped token."""
    if ctx.project_id is None:
        raise APIError(403, "This call needs a project-scoped token.")
    return ctx


ProjectCtx = Annotated[RequestContext, Depends(require_project)]


async def require_admin(ctx: Ctx) -> RequestContext:
    if not ctx.is_admin:
        raise APIError(403, "Policy doesn't allow this operation to be performed: admin only.")
    return ctx


AdminCtx = Annotated[RequestContext, Depends(require_admin)]


async def require_writer(ctx: ProjectCtx) -> RequestContext:
    if not ctx.can_write:
        raise APIError(403, "Policy doesn't allow this operation: the reader role is read-only.")
    return ctx


WriterCtx = Annotated[RequestContext, Depends(require_writer)]


async def get_microversion(request: Request) -> APIVersion:
    version = negotiate(request)
    request.state.microversion = version
    return version


Microversion = Annotated[APIVersion, Depends(get_microversion)]
