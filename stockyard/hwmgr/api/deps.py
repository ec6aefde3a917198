"""Dependencies of the hwmgr routes: state, session and the service-token check."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.hwmgr.api.errors import HwmgrError
from stockyard.hwmgr.api.state import HwmgrState


def get_state(request: Request) -> HwmgrState:
    state: HwmgrState = request.app.state.hwmgr
    return state


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_state(request).db.sessionmaker() as session:
        yield session


def require_service_token(request: Request) -> None:
    """The static service token, from ``X-Auth-Token`` or ``Authorization: Bearer``."""
    expected = get_state(request).settings.token.get_secret_value()
    given = request.headers.get("x-auth-token")
    if not given:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HwmgrError(401, "a valid hwmgr service token is required")


StateDep = Annotated[HwmgrState, Depends(get_state)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ServiceAuth = Depends(require_service_token)
