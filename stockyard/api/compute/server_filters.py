"""Server list filters that map to a column (``GET /servers``, ``/servers/detail``).

Who may use which, as Nova's ``_get_server_search_options``: a filter here a user may not use
is dropped without an error (Nova logs and ignores it), never answered with 400/403.
Everyone may filter by image, flavor, reservation_id (and name, status, ip, changes-*,
locked, handled in ``servers``); admins also by the rest. From 2.83 users too may filter
by availability_zone, config_drive, key_name, created_at, launched_at, terminated_at,
power_state, task_state, vm_state, progress and user_id.

Value rules: availability_zone, key_name, user_id, task_state and vm_state match exactly
(states case-insensitively: Nova's api-ref lists them upper-case, they are stored
lower-case); power_state and progress are integers (a non-integer is 400, as Nova's
schema); config_drive is a boolean (a server has one or not); the three times take an
ISO 8601 date (that day, UTC) or date and time (that second). Nova matches those times
as a regular expression on the database's text form, which depends on the database;
the day/second rule is what such a match gives for a date or a full timestamp.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, false, or_
from sqlalchemy.orm import InstrumentedAttribute
from starlette.datastructures import QueryParams

from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import Instance
from stockyard.identity.context import RequestContext
from stockyard.lifecycle.states import TaskState, VmState

# Last path segment: image and flavor may be given as links.
_EVERYONE: dict[str, InstrumentedAttribute[Any]] = {
    "image": Instance.image_ref,
    "flavor": Instance.flavor_id,
}
_EXACT_2_83: dict[str, InstrumentedAttribute[Any]] = {
    "availability_zone": Instance.availability_zone,
    "key_name": Instance.key_name,
    "user_id": Instance.user_id,
}
_STATES: dict[str, InstrumentedAttribute[Any]] = {
    "task_state": Instance.task_state,
    "vm_state": Instance.vm_state,
}
_TIMES: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": Instance.created_at,
    "launched_at": Instance.launched_at,
    "terminated_at": Instance.terminated_at,
}
# Tasks that give an active server another status (REBOOT, HARD_REBOOT, REBUILD).
_STATUS_TASKS = [
    t.value for t in (TaskState.REBOOTING, TaskState.REBOOTING_HARD, TaskState.REBUILDING)
]
_OTHER_2_83 = {"config_drive", "power_state", "progress"}
USER_FILTERS_2_83 = frozenset(_EXACT_2_83) | frozenset(_STATES) | frozenset(_TIMES) | _OTHER_2_83


def _int(field: str, value: str) -> int:
    text = value.strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdecimal()) or len(digits) > 18:
        # Longer than any column's integer: 400 rather than a driver overflow.
        raise APIError(400, f"Invalid input for query parameter {field}: {value!r}")
    return int(text)


def _bool(field: str, value: str) -> bool:
    """oslo's strict ``bool_from_string``, as Nova parses boolean query parameters."""
    lowered = value.strip().lower()
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise APIError(400, f"Invalid input for query parameter {field}: {value!r}")


def _time_range(field: str, value: str) -> tuple[datetime, datetime]:
    """``[start, end)`` (naive UTC) of the day or second ``value`` names."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text)
            return day, day + timedelta(days=1)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        at = at.replace(microsecond=0)
        return at, at + timedelta(seconds=1)
    except (ValueError, OverflowError):  # OverflowError: the last day or second of 9999
        raise APIError(400, f"Invalid input for query parameter {field}: {value!r}") from None


def user_may(field: str, ctx: RequestContext, version: APIVersion) -> bool:
    """Whether this caller's filter on ``field`` is applied (else it is ignored)."""
    return ctx.is_admin or (field in USER_FILTERS_2_83 and version.at_least("2.83"))


def apply_column_filters(
    query: Select[Any], params: QueryParams, ctx: RequestContext, version: APIVersion
) -> Select[Any]:
    """``query`` narrowed by every column filter this caller may use."""
    for field, column in _EVERYONE.items():
        if value := params.get(field):
            query = query.where(column == value.rstrip("/").rsplit("/", 1)[-1])
    if value := params.get("reservation_id"):
        query = query.where(Instance.reservation_id == value)

    def given(field: str) -> str | None:
        value = params.get(field)
        return value if value and user_may(field, ctx, version) else None

    for field, column in _EXACT_2_83.items():
        if (value := given(field)) is not None:
            query = query.where(column == value)
    for field, column in _STATES.items():
        if (value := given(field)) is not None:
            query = query.where(column == value.strip().lower())
    for field, column in _TIMES.items():
        if (value := given(field)) is not None:
            start, end = _time_range(field, value)
            query = query.where(column >= start, column < end)
    if (value := given("power_state")) is not None:
        query = query.where(Instance.power_state == _int("power_state", value))
    if (value := given("config_drive")) is not None:
        has = Instance.config_drive != ""
        query = query.where(has if _bool("config_drive", value) else ~has)
    if (value := given("progress")) is not None:
        # The view's progress: 100 for a server whose status is ACTIVE, else 0.
        active = and_(
            Instance.vm_state == VmState.ACTIVE.value,
            or_(Instance.task_state.is_(None), Instance.task_state.not_in(_STATUS_TASKS)),
        )
        progress = _int("progress", value)
        query = query.where(active if progress == 100 else ~active if progress == 0 else false())
    return query
