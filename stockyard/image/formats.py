"""What Glance accepts for an image's formats, visibility and attribute names."""

from __future__ import annotations

# Glance's defaults for ``[image_format] disk_formats`` / ``container_formats``.
DISK_FORMATS = (
    "ami",
    "ari",
    "aki",
    "vhd",
    "vhdx",
    "vmdk",
    "raw",
    "qcow2",
    "vdi",
    "iso",
    "ploop",
)
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")
STATUSES = (
    "queued",
    "saving",
    "active",
    "killed",
    "deleted",
    "uploading",
    "importing",
    "pending_delete",
    "deactivated",
)

# Set by the service only; a client naming them gets 403, as from Glance.
READONLY_ATTRIBUTES = frozenset(
    {
        "created_at",
        "updated_at",
        "status",
        "checksum",
        "os_hash_algo",
        "os_hash_value",
        "size",
        "virtual_size",
        "direct_url",
        "self",
        "file",
        "schema",
        "stores",
        "locations",
    }
)
RESERVED_ATTRIBUTES = frozenset({"location", "deleted", "deleted_at"})
# Core attributes a client may set; everything else is a custom (string) property.
CORE_WRITABLE = frozenset(
    {
        "id",
        "name",
        "visibility",
        "protected",
        "os_hidden",
        "min_disk",
        "min_ram",
        "disk_format",
        "container_format",
        "tags",
        "owner",
    }
)
MAX_PROPERTIES = 128  # Glance's image_property_quota
MAX_TAGS = 128  # Glance's image_tag_quota
MAX_PROPERTY_VALUE = 65535
HASH_ALGO = "sha512"


def reserved_reason(key: str) -> str | None:
    """Why a client may not set ``key`` (Glance's wording), or None if it may."""
    if key in READONLY_ATTRIBUTES or key == "id":
        return f"Attribute '{key}' is read-only."
    if key in RESERVED_ATTRIBUTES or key.startswith("os_glance"):
        return f"Attribute '{key}' is reserved."
    return None
