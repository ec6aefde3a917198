"""``/v3/extensions``: Cinder's legacy list of API extension descriptors.

``openstack extension list --volume`` reads it. Cinder lists the extensions it loaded;
Stockyard lists those whose API it serves (:mod:`stockyard.api.extension_list`), with
Cinder's aliases, names and descriptions, sorted by alias.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from stockyard.api.deps import ProjectCtx
from stockyard.api.extension_list import Extension, served

router = APIRouter()

# Cinder dates each descriptor; the dates say nothing to a client (one value here).
_UPDATED = "2013-01-01T00:00:00+00:00"
_PREFIX = "/volume/v3"
_VOLUMES = "/volumes"

EXTENSIONS: tuple[Extension, ...] = (
    Extension("os-admin-actions", "AdminActions", "Enable admin actions.",
              "/volumes/{volume_id}/action"),
    Extension("os-availability-zone", "AvailabilityZones", "Describe Availability Zones.",
              "/os-availability-zone"),
    Extension("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes",
              "Extended SnapshotAttributes support.", "/snapshots"),
    Extension("os-quota-class-sets", "QuotaClasses", "Quota classes management support.",
              "/os-quota-class-sets/{class_name}"),
    Extension("os-quota-sets", "Quotas", "Quota management support.",
              "/os-quota-sets/{project_id}"),
    Extension("os-services", "Services", "Services support.", "/os-services"),
    Extension("os-snapshot-actions", "SnapshotActions", "Enable snapshot manager actions.",
              "/snapshots/{snapshot_id}/action"),
    Extension("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support.",
              "/types/{type_id}/extra_specs"),
    Extension("os-types-manage", "TypesManage", "Types manage support.", "/types"),
    Extension("os-used-limits", "UsedLimits",
              "Provide data on limited resources that are being used.", "/limits"),
    Extension("os-vol-host-attr", "VolumeHostAttribute",
              "Expose host as an attribute of a volume.", _VOLUMES),
    Extension("os-vol-image-meta", "VolumeImageMetadata",
              "Show image metadata associated with the volume.", _VOLUMES),
    Extension("os-vol-mig-status-attr", "VolumeMigStatusAttribute",
              "Expose migration_status as an attribute of a volume.", _VOLUMES),
    Extension("os-vol-tenant-attr", "VolumeTenantAttribute",
              "Expose the internal project_id as an attribute of a volume.", _VOLUMES),
    Extension("os-volume-actions", "VolumeActions", "Enable volume actions.",
              "/volumes/{volume_id}/action"),
    Extension("os-volume-type-access", "VolumeTypeAccess", "Volume type access support.",
              "/types/{type_id}/os-volume-type-access"),
)  # fmt: skip


@router.get("/extensions")
async def list_extensions(request: Request, ctx: ProjectCtx) -> dict[str, Any]:
    return {"extensions": [e.descriptor(_UPDATED) for e in served(request, EXTENSIONS, _PREFIX)]}
