"""Server-side sessions: the browser holds an opaque id, the Keystone token stays here.

The cookie carries only a random session id (HttpOnly, SameSite=Strict), so the page's
JavaScript never sees a token and a stolen cookie dies with logout or the token.

The store is a dict in this process's memory. That is right for one dashboard process
(``stockyard up``, or one ``stockyard dashboard``): nothing to deploy, and a restart
simply logs everyone out (their tokens expire on their own). Several replicas behind a
load balancer need either sticky sessions or a shared store (Redis, the database of a
separate service) keyed by the same id, with the token encrypted at rest; the
:class:`SessionStore` interface (``new``, ``get``, ``drop``) is what such a store would
implement.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from stockyard.dashboard.client import Token

COOKIE = "stockyard_session"
# A session unused this long is forgotten even if its token still lives (a shared
# machine left logged in); its token is not revoked then, it expires on its own.
IDLE_SECONDS = 8 * 3600


@dataclass
class Session:
    """One browser's session: its CSRF secret and, once logged in, its token."""

    id: str
    csrf: str
    token: Token | None = None
    projects: list[dict[str, Any]] = field(default_factory=list)
    last_seen: float = field(default_factory=time.monotonic)
    # One-shot message for the next page (the result of a POST, Post/Redirect/Get).
    flash: str | None = None

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)

    def pop_flash(self) -> str | None:
        message, self.flash = self.flash, None
        return message


class SessionStore:
    """Sessions by id, in memory; bounded by idle time and a maximum count."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, max_sessions: int = 10_000) -> None:
        self.idle_seconds = idle_seconds
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}

    def new(self) -> Session:
        """A fresh session with a new id (also on login: the pre-login id is never reused)."""
        self._expire()
        if len(self._sessions) >= self.max_sessions:
            # Full: drop the oldest anonymous session (anyone can make those), so a flood
            # of login-page visits cannot push logged-in users out; else the oldest one.
            anonymous = [s for s in self._sessions.values() if s.token is None]
            pool = anonymous or list(self._sessions.values())
            oldest = min(pool, key=lambda s: s.last_seen)
            self._sessions.pop(oldest.id, None)
        session = Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32))
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self.idle_seconds:
            self._sessions.pop(session_id, None)
            return None
        session.last_seen = now
        return session

    def drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s.id for s in self._sessions.values() if now - s.last_seen > self.idle_seconds]:
            self._sessions.pop(sid, None)
