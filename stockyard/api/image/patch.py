"""PATCH /v2/images/{id} with Glance's JSON-patch media type, and the tag sub-resource.

All operations are checked against a copy first; the image changes only if every
operation is valid, so a bad operation never leaves a half-applied patch.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from stockyard.api.deps import SessionDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.image.access import get_modifiable_image
from stockyard.api.image.deps import read_json
from stockyard.api.image.validation import (
    check_property_quota,
    validate_core,
    validate_property,
    validate_tag,
    validate_tags,
)
from stockyard.api.image.views import image_view
from stockyard.db.models import Image
from stockyard.identity.context import RequestContext
from stockyard.image.formats import CORE_WRITABLE, MAX_TAGS, reserved_reason

router = APIRouter()

PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)
OPS = ("add", "replace", "remove")
# Glance's own short form (draft-04 era, still what Tempest sends): the op is the key,
# the pointer its value: {"replace": "/name", "value": "x"}.
_NO_OP = 'Operation objects must contain exactly one member named "add", "remove", or "replace".'
_TWO_OPS = 'Operation objects must contain only one member named "add", "remove", or "replace".'
_NO_OP_D10 = "Unable to find `op` in JSON Schema change. It must be one of the following: "
# Formats describe the data, so they are fixed once data is there (Glance's rule).
QUEUED_ONLY = ("disk_format", "container_format")


def decode_pointer(path: Any) -> str:
    """The single attribute a JSON pointer names (``/a~1b`` -> ``a/b``); 400 otherwise."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) < 2:
        raise APIError(400, f'Pointer {path!r} does not start with "/" and name an attribute.')
    raw = path[1:]
    if "/" in raw:
        root = raw.split("/", 1)[0]
        if root == "locations":
            raise APIError(403, "Attribute 'locations' is read-only.")
        raise APIError(400, f"Invalid JSON pointer {path!r}: nested attributes are not supported.")
    return raw.replace("~1", "/").replace("~0", "~")


def parse_change(change: Any, *, rfc_default: bool) -> tuple[str, Any]:
    """``(op, path)`` of one change in either form (RFC 6902 ``op``/``path`` or Glance's
    ``{op: path}``); a change naming no op gets the message of the media type's form."""
    if not isinstance(change, dict):
        raise APIError(400, "Operation objects must be JSON objects.")
    if "op" in change:
        op = change["op"]
        if op not in OPS:
            raise APIError(
                400,
                f"Invalid operation: `{op}`. It must be one of the following: {', '.join(OPS)}.",
            )
        if "path" not in change:
            raise APIError(400, "Unable to find 'path' in JSON Schema change")
        return op, change["path"]
    named = [key for key in OPS if key in change]
    if len(named) > 1:
        raise APIError(400, _TWO_OPS)
    if not named:
        raise APIError(400, _NO_OP_D10 + ", ".join(OPS) + "." if rfc_default else _NO_OP)
    return named[0], change[named[0]]


def apply_changes(
    image: Image, changes: Any, ctx: RequestContext, *, rfc_default: bool = True
) -> dict[str, Any]:
    """The new core attributes and properties after ``changes``; raises on the first bad one."""
    if not isinstance(changes, list):
        raise APIError(400, "Request body must be a JSON array of operation objects.")
    core: dict[str, Any] = {}
    props: dict[str, Any] = dict(image.properties or {})
    for change in changes:
        op, path = parse_change(change, rfc_default=rfc_default)
        key = decode_pointer(path)
        reason = reserved_reason(key)
        if reason:
            raise APIError(403, reason)
        if op != "remove" and "value" not in change:
            raise APIError(400, f'Operation "{op}" requires a member named "value".')
        value = change.get("value")
        if key in CORE_WRITABLE:
            if op == "remove":
                raise APIError(403, f"Property {key} may not be removed.")
            if key in QUEUED_ONLY and image.status != "queued":
                raise APIError(403, f"Attribute {key} can be only replaced for a queued image.")
            core[key] = validate_core(key, value, ctx)
        elif op == "add":
            props[key] = validate_property(key, value)
        elif key not in props:
            raise APIError(409, f"Property {key} does not exist.")
        elif op == "replace":
            props[key] = validate_property(key, value)
        else:
            del props[key]
    check_property_quota(props)
    core["properties"] = props
    return core


@router.patch("/v2/images/{image_id}")
async def update_image(
    image_id: str,
    request: Request,
    changes: Annotated[Any, Depends(read_json)],
    session: SessionDep,
    ctx: WriterCtx,
) -> dict[str, Any]:
    """Apply add/replace/remove operations to core attributes and custom properties."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in PATCH_TYPES:
        raise APIError(415, f"Unsupported Content-Type {content_type!r}: use {PATCH_TYPES[0]}.")
    image = await get_modifiable_image(session, ctx, image_id)
    # v2.1 is RFC 6902's form, v2.0 Glance's short one; both are accepted under either.
    updates = apply_changes(image, changes, ctx, rfc_default=content_type == PATCH_TYPES[0])
    for key, value in updates.items():
        setattr(image, key, value)
    await session.commit()
    await session.refresh(image)
    return image_view(image)


@router.put("/v2/images/{image_id}/tags/{tag}", status_code=204)
async def add_tag(image_id: str, tag: str, session: SessionDep, ctx: WriterCtx) -> Response:
    validate_tag(tag)
    image = await get_modifiable_image(session, ctx, image_id)
    tags = list(image.tags or [])
    if tag not in tags:
        if len(tags) >= MAX_TAGS:
            raise APIError(413, f"Maximum number of tags exceeded: at most {MAX_TAGS}.")
        image.tags = validate_tags([*tags, tag])
        await session.commit()
    return Response(status_code=204)


@router.delete("/v2/images/{image_id}/tags/{tag}", status_code=204)
async def delete_tag(image_id: str, tag: str, session: SessionDep, ctx: WriterCtx) -> Response:
    image = await get_modifiable_image(session, ctx, image_id)
    tags = list(image.tags or [])
    if tag not in tags:
        raise APIError(404, f"Tag {tag} not found on image {image_id}.")
    image.tags = [t for t in tags if t != tag]
    await session.commit()
    return Response(status_code=204)
