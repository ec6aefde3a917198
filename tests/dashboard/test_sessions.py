"""The in-memory session store: idle expiry and a bound that spares logged-in users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from stockyard.dashboard.client import Token
from stockyard.dashboard.sessions import SessionStore


def _token() -> Token:
    return Token(
        id="t", expires_at=datetime.now(UTC) + timedelta(hours=1), user_id="u",
        user_name="demo", project_id="p", project_name="demo", roles=["member"],
    )  # fmt: skip


def test_ids_and_csrf_secrets_are_random_and_checked_in_constant_time() -> None:
    store = SessionStore()
    a, b = store.new(), store.new()
    assert a.id != b.id and a.csrf != b.csrf and len(a.id) >= 40
    assert a.csrf_ok(a.csrf) and not a.csrf_ok(b.csrf) and not a.csrf_ok(None)
    assert store.get(a.id) is a and store.get("nope") is None and store.get(None) is None


def test_idle_sessions_are_forgotten() -> None:
    store = SessionStore(idle_seconds=60)
    session = store.new()
    session.last_seen -= 61
    assert store.get(session.id) is None
    assert len(store) == 0


def test_a_flood_of_anonymous_sessions_does_not_push_out_logged_in_users() -> None:
    store = SessionStore(max_sessions=3)
    user = store.new()
    user.token = _token()
    user.last_seen -= 10  # the oldest of all
    for _ in range(10):
        store.new()
    assert len(store) == 3
    assert store.get(user.id) is user


def test_flash_is_shown_once() -> None:
    session = SessionStore().new()
    session.flash = "done"
    assert session.pop_flash() == "done"
    assert session.pop_flash() is None
