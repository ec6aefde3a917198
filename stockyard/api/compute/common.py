"""Helpers shared by the catalog resources: links, pagination, body checks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.errors import APIError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def links(base_url: str, project_id: str | None, collection: str, ident: str) -> list[Any]:
    """Nova's self + bookmark links for one resource."""
    pid = f"/{project_id}" if project_id else ""
    return [
        {"rel": "self", "href": f"{base_url}/compute/v2.1{pid}/{collection}/{ident}"},
        {"rel": "bookmark", "href": f"{base_url}/compute{pid}/{collection}/{ident}"},
    ]


def iso(value: datetime | None) -> str | None:
    """Nova's timestamp format (no offset, microseconds as stored)."""
    return value.isoformat() if value is not None else None


def parse_limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise APIError(400, f"Invalid input for query parameter limit: {raw!r}") from None
    if value < 0:
        raise APIError(400, "Invalid input for query parameter limit: must be >= 0")
    return value


def paginate(items: Sequence[T], key: str, marker: str | None, limit: int | None) -> list[T]:
    """Slice ``items`` after the one whose ``key`` attribute equals ``marker``."""
    start = 0
    if marker is not None:
        for index, item in enumerate(items):
            if str(getattr(item, key)) == marker:
                start = index + 1
                break
        else:
            raise APIError(400, f"marker [{marker}] not found")
    end = None if limit is None else start + limit
    return list(items[start:end])


def parse_bool(name: str, raw: str | None) -> bool | None:
    """Query-string booleans as oslo accepts them."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("1", "t", "true", "on", "y", "yes"):
        return True
    if value in ("0", "f", "false", "off", "n", "no"):
        return False
    raise APIError(400, f"Invalid input for query parameter {name}: {raw!r} is not a boolean")


def parse_body(model: type[M], body: Any, root: str | None = None) -> M:
    """Validate a request body against ``model``; a 400 names the first bad field.

    Bodies are taken as raw JSON rather than as FastAPI parameters so that Nova's error
    text, and a missing root key, are reported the same way everywhere.
    """
    if not isinstance(body, dict):
        raise APIError(400, "Malformed request body: a JSON object is required.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or (root or "body")
        raise APIError(
            400,
            f"Invalid input for field/attribute {field}. "
            f"Value: {err.get('input')!r}. {err.get('msg', 'invalid')}",
        ) from None


def _int_like(value: Any) -> Any:
    """Nova's integer parameters accept JSON integers and digit strings, never booleans."""
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdecimal():
            raise ValueError("must be an integer")
        return int(text)
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be an integer")
    return value


def _strict_bool(value: Any) -> Any:
    """Booleans as Nova's ``boolean`` parameter type: JSON bools or their usual spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ValueError("must be a boolean")


IntLike = Annotated[int, BeforeValidator(_int_like)]
BoolLike = Annotated[bool, BeforeValidator(_strict_bool)]
MAX_INT = 2147483647
# The largest integer the databases store (SQLite, PostgreSQL BIGINT); a bigger one in a query
# makes the driver raise (SQLite: OverflowError), so parsed ids and filters are checked first.
DB_INT_MAX = 2**63 - 1


def row_id(text: str) -> int | None:
    """A path's integer id (aggregates, hypervisors before 2.53), or None if it cannot be
    one: not ASCII digits ("²" is ``isdigit`` but not ``int``-able) or beyond an INTEGER
    column (PostgreSQL's is 32-bit). None means 404, never a driver error."""
    if not (text.isascii() and text.isdecimal()):
        return None
    value = int(text)
    return value if value <= MAX_INT else None


async def commit_or_conflict(session: AsyncSession, message: str) -> None:
    """Commit; a unique-constraint race lost to a concurrent request becomes a 409."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise APIError(409, message) from None
