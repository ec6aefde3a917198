"""GET /v2/schemas/image(s) and /v2/info/import: what clients may read to learn the API.

The import info advertises no methods: Stockyard takes data by direct upload
(PUT .../file), and clients fall back to it when no import method is offered.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stockyard.api.deps import ProjectCtx
from stockyard.image.formats import CONTAINER_FORMATS, DISK_FORMATS, STATUSES, VISIBILITIES

router = APIRouter()


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def image_schema() -> dict[str, Any]:
    """Glance's image schema, reduced to the attributes Stockyard serves."""
    ro = {"readOnly": True}
    return {
        "name": "image",
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
                "description": "An identifier for the image",
            },
            "name": _nullable("string", maxLength=255, description="Descriptive name"),
            "status": {"type": "string", "enum": list(STATUSES), **ro},
            "visibility": {"type": "string", "enum": list(VISIBILITIES)},
            "protected": {"type": "boolean", "description": "If true, cannot be deleted"},
            "os_hidden": {"type": "boolean", "description": "If true, hidden from lists"},
            "checksum": _nullable("string", maxLength=32, **ro),
            "os_hash_algo": _nullable("string", maxLength=64, **ro),
            "os_hash_value": _nullable("string", maxLength=128, **ro),
            "owner": _nullable("string", maxLength=255),
            "size": _nullable("integer", **ro),
            "virtual_size": _nullable("integer", **ro),
            "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS]},
            "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS]},
            "created_at": {"type": "string", **ro},
            "updated_at": {"type": "string", **ro},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "min_ram": {"type": "integer", "description": "RAM in MB to boot the image"},
            "min_disk": {"type": "integer", "description": "Disk in GB to boot the image"},
            "self": {"type": "string", **ro},
            "file": {"type": "string", **ro},
            "schema": {"type": "string", **ro},
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"href": "{self}", "rel": "self"},
            {"href": "{file}", "rel": "enclosure"},
            {"href": "{schema}", "rel": "describedby"},
        ],
    }


@router.get("/v2/schemas/image")
async def get_image_schema(ctx: ProjectCtx) -> dict[str, Any]:
    return image_schema()


@router.get("/v2/schemas/images")
async def get_images_schema(ctx: ProjectCtx) -> dict[str, Any]:
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


@router.get("/v2/info/import")
async def import_info(ctx: ProjectCtx) -> dict[str, Any]:
    return {
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": [],
        }
    }


def member_schema() -> dict[str, Any]:
    """Glance's image member schema."""
    return {
        "name": "member",
        "properties": {
            "member_id": {
                "type": "string",
                "description": "An identifier for the image member (tenantId)",
            },
            "image_id": {
                "type": "string",
                "description": "An identifier for the image",
                "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$",
            },
            "created_at": {
                "type": "string",
                "description": "Date and time of image member creation",
            },
            "updated_at": {
                "type": "string",
                "description": "Date and time of last modification of image member",
            },
            "status": {
                "type": "string",
                "description": "The status of this image member",
                "enum": ["pending", "accepted", "rejected"],
            },
            "schema": {"type": "string", "readOnly": True},
        },
    }


@router.get("/v2/schemas/member")
async def get_member_schema(ctx: ProjectCtx) -> dict[str, Any]:
    return member_schema()


@router.get("/v2/schemas/members")
async def get_members_schema(ctx: ProjectCtx) -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }
