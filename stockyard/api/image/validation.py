"""Validation of image attributes, shared by create (POST) and update (PATCH).

Glance checks with a JSON schema: core attributes have fixed types, every other attribute
is a custom property whose value must be a string. Errors name the attribute.
"""

from __future__ import annotations

import uuid
from typing import Any

from stockyard.api.errors import APIError
from stockyard.identity.context import RequestContext
from stockyard.image.formats import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    MAX_PROPERTIES,
    MAX_PROPERTY_VALUE,
    MAX_TAGS,
    VISIBILITIES,
)

MAX_INT = 2**31 - 1


def _bad(field: str, message: str) -> APIError:
    return APIError(400, f"Invalid value for attribute '{field}': {message}")


def _int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(field, f"{value!r} is not of type 'integer'.")
    if not 0 <= value <= MAX_INT:
        raise _bad(field, f"{value!r} must be between 0 and {MAX_INT}.")
    return value


def _bool(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(field, f"{value!r} is not of type 'boolean'.")
    return value


def _enum(field: str, value: Any, allowed: tuple[str, ...], nullable: bool) -> str | None:
    if value is None and nullable:
        return None
    if value not in allowed:
        raise _bad(field, f"{value!r} is not one of {list(allowed)}.")
    return str(value)


def validate_tags(value: Any) -> list[str]:
    """A list of strings of at most 255 characters; duplicates collapse, order kept."""
    if not isinstance(value, list):
        raise _bad("tags", f"{value!r} is not of type 'array'.")
    tags: list[str] = []
    for tag in value:
        tags.append(validate_tag(tag))
    unique = list(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise APIError(413, f"Maximum number of tags exceeded: at most {MAX_TAGS} per image.")
    return unique


def validate_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > 255:
        raise _bad("tags", f"{tag!r} must be a string of 1 to 255 characters.")
    return tag


def validate_core(field: str, value: Any, ctx: RequestContext) -> Any:
    """The checked value of a core attribute; 400/403 naming ``field`` when refused."""
    if field == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _bad("name", "must be a string of at most 255 characters or null.")
        return value
    if field == "id":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise _bad("id", f"{value!r} is not a valid UUID.") from None
    if field == "visibility":
        vis = _enum("visibility", value, VISIBILITIES, nullable=False)
        if vis == "public" and not ctx.is_admin:
            raise APIError(403, "Attribute 'visibility' may be set to 'public' only by admin.")
        return vis
    if field in ("protected", "os_hidden"):
        return _bool(field, value)
    if field in ("min_disk", "min_ram"):
        return _int(field, value)
    if field == "disk_format":
        return _enum(field, value, DISK_FORMATS, nullable=True)
    if field == "container_format":
        return _enum(field, value, CONTAINER_FORMATS, nullable=True)
    if field == "tags":
        return validate_tags(value)
    if field == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise _bad("owner", "must be a string of at most 255 characters or null.")
        if value != ctx.project_id and not ctx.is_admin:
            raise APIError(403, "Attribute 'owner' may be set to another project only by admin.")
        return value
    raise AssertionError(f"not a core attribute: {field}")


def validate_property(key: str, value: Any) -> str:
    """Custom properties are strings, as Glance's ``additionalProperties`` says."""
    if not key or len(key) > 255:
        raise _bad(key[:255], "property names are 1 to 255 characters.")
    if not isinstance(value, str):
        raise _bad(key, f"{value!r} is not of type 'string'.")
    if len(value) > MAX_PROPERTY_VALUE:
        raise _bad(key, f"longer than {MAX_PROPERTY_VALUE} characters.")
    return value


def check_property_quota(properties: dict[str, str]) -> None:
    if len(properties) > MAX_PROPERTIES:
        raise APIError(
            413, f"Maximum number of properties exceeded: at most {MAX_PROPERTIES} per image."
        )
