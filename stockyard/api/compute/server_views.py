"""Server bodies as Nova renders them, gated by microversion and by role."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from stockyard.api.microversion import APIVersion
from stockyard.db.models import Instance, InstanceFault
from stockyard.lifecycle.states import api_status


def iso(value: datetime | None) -> str | None:
    """Nova's ``created``/``updated`` format: seconds, Z."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def iso_usec(value: datetime | None) -> str | None:
    """Nova's ``launched_at`` and event times: microseconds, no zone."""
    return value.isoformat(timespec="microseconds") if value else None


@lru_cache(maxsize=65536)
def host_id(project_id: str, host: str | None) -> str:
    """Opaque per-project host id, as Nova: users see co-location, not host names."""
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


# The microversions server_detail's fields depend on.
_GATES = ("2.3", "2.9", "2.16", "2.19", "2.26", "2.63", "2.71", "2.73", "2.90", "2.96")


@dataclass(frozen=True)
class ViewContext:
    base_url: str
    version: APIVersion
    is_admin: bool

    @cached_property
    def since(self) -> frozenset[str]:
        """The microversions among ``_GATES`` this request reaches: a set lookup per field
        of each server instead of parsing and comparing versions a thousand times a page."""
        return frozenset(v for v in _GATES if self.version.at_least(v))

    def link(self, kind: str, ident: str) -> list[dict[str, str]]:
        return [
            {"rel": "self", "href": f"{self.base_url}/compute/v2.1/{kind}/{ident}"},
            {"rel": "bookmark", "href": f"{self.base_url}/compute/{kind}/{ident}"},
        ]


def flavor_view(vc: ViewContext, snap: dict[str, Any] | None, flavor_id: str) -> dict[str, Any]:
    """The server's ``flavor``: a link before 2.47, the snapshot taken at create from it."""
    if not vc.version.at_least("2.47"):
        return {"id": flavor_id, "links": vc.link("flavors", flavor_id)}
    snap = snap or {}
    body: dict[str, Any] = {
        "vcpus": snap.get("vcpus", 0),
        "ram": snap.get("ram", 0),
        "disk": snap.get("disk", 0),
        "ephemeral": snap.get("ephemeral", 0),
        "swap": snap.get("swap", 0),
        "original_name": snap.get("name", flavor_id),
    }
    if vc.is_admin or vc.version.at_least("2.47"):
        body["extra_specs"] = dict(snap.get("extra_specs") or {})
    return body


def _fault(vc: ViewContext, fault: InstanceFault) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": fault.code,
        "created": iso(fault.created_at),
        "message": fault.message,
    }
    # Nova hides details of 500 faults from non-admins (they may carry tracebacks); ours
    # are written for users, so the scheduler's per-filter reasons stay visible to all.
    body["details"] = fault.details
    return body


def server_brief(vc: ViewContext, inst: Instance) -> dict[str, Any]:
    return {"id": inst.uuid, "name": inst.name, "links": vc.link("servers", inst.uuid)}


# Nova shows ``progress`` only for the statuses where something may be in progress.
_PROGRESS_STATUSES = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}


def server_detail(
    vc: ViewContext,
    inst: Instance,
    fault: InstanceFault | None = None,
    host_status: str = "",
    groups: list[str] | None = None,
    volumes: list[tuple[str, bool]] | None = None,
    flavor: dict[str, Any] | None = None,
    security_groups: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The full server body (GET /servers/{id}, /servers/detail).

    ``security_groups`` are the groups of the server's ports
    (:func:`~stockyard.api.compute.secgroup_views.server_security_groups`); without
    any the key is left out, as Nova does.

    ``flavor`` is :func:`flavor_view`'s body when the caller has it (the list builds one
    per distinct snapshot and shares it between servers).

    ``volumes`` are the attached volumes (id, delete_on_termination), boot volume first.

    ``host_status`` is :mod:`~stockyard.api.compute.server_host_status`'s answer for the
    server's host (the caller looks it up, batched for lists); only admins see it.
    """
    status = api_status(inst.vm_state, inst.task_state)
    since = vc.since
    body: dict[str, Any] = {
        "id": inst.uuid,
        "name": inst.name,
        "status": status,
        "tenant_id": inst.project_id,
        "user_id": inst.user_id,
        "metadata": dict(inst.metadata_ or {}),
        "hostId": host_id(inst.project_id, inst.host),
        "image": {"id": inst.image_ref, "links": vc.link("images", inst.image_ref)}
        if inst.image_ref
        else "",
        "flavor": flavor if flavor is not None else flavor_view(vc, inst.flavor, inst.flavor_id),
        "created": iso(inst.created_at),
        "updated": iso(inst.updated_at),
        "addresses": inst.addresses or {},
        "accessIPv4": inst.access_ip_v4,
        "accessIPv6": inst.access_ip_v6,
        "links": vc.link("servers", inst.uuid),
        "OS-DCF:diskConfig": "AUTO" if inst.auto_disk_config else "MANUAL",
        "OS-EXT-AZ:availability_zone": inst.availability_zone or "",
        "config_drive": inst.config_drive,
        "key_name": inst.key_name,
        "OS-SRV-USG:launched_at": iso_usec(inst.launched_at),
        "OS-SRV-USG:terminated_at": iso_usec(inst.terminated_at),
        "OS-EXT-STS:task_state": inst.task_state,
        "OS-EXT-STS:vm_state": inst.vm_state,
        "OS-EXT-STS:power_state": inst.power_state,
        "os-extended-volumes:volumes_attached": [
            {"id": vid, "delete_on_termination": dot} if "2.3" in since else {"id": vid}
            for vid, dot in volumes or []
        ],
    }
    if security_groups:
        body["security_groups"] = security_groups
    if status in _PROGRESS_STATUSES:
        body["progress"] = 100 if status == "ACTIVE" else 0
    if vc.is_admin:
        body["OS-EXT-SRV-ATTR:host"] = inst.host
        body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = inst.node
        body["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{inst.id:08x}"
        if "2.3" in since:
            body["OS-EXT-SRV-ATTR:hostname"] = inst.hostname
            body["OS-EXT-SRV-ATTR:reservation_id"] = inst.reservation_id
            body["OS-EXT-SRV-ATTR:launch_index"] = inst.launch_index
            body["OS-EXT-SRV-ATTR:kernel_id"] = ""
            body["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
            body["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
            body["OS-EXT-SRV-ATTR:user_data"] = inst.user_data
    if "2.96" in since:
        # The zone the scheduler is held to (asked for at create); null when unpinned.
        body["pinned_availability_zone"] = inst.requested_az or None
    if "2.90" in since:
        # Shown to users too from 2.90, where they may set it.
        body["OS-EXT-SRV-ATTR:hostname"] = inst.hostname
    if "2.9" in since:
        body["locked"] = inst.locked
    if "2.16" in since and vc.is_admin:
        body["host_status"] = host_status
    if "2.19" in since:
        body["description"] = inst.description
    if "2.26" in since:
        body["tags"] = list(inst.tags or [])
    if "2.63" in since:
        body["trusted_image_certificates"] = None
    if "2.71" in since and groups is not None:
        body["server_groups"] = groups
    if "2.73" in since:
        body["locked_reason"] = inst.locked_reason if inst.locked else None
    if fault is not None and status in ("ERROR", "DELETED"):
        body["fault"] = _fault(vc, fault)
    return body


# What Nova's PUT /servers/{id} and rebuild leave out before 2.75: they build the server
# with show_AZ, show_config_drive, show_keypair, show_srv_usg, show_sec_grp,
# show_extended_status, show_extended_volumes, show_extended_attr, show_host_status and
# extend_address all False. From 2.75 they answer GET /servers/{id}'s body.
_NOT_BEFORE_2_75 = ("config_drive", "key_name", "security_groups", "host_status")
_PREFIXES_NOT_BEFORE_2_75 = ("OS-EXT-", "OS-SRV-USG:", "os-extended-volumes:")


def server_update_view(
    vc: ViewContext,
    inst: Instance,
    fault: InstanceFault | None = None,
    groups: list[str] | None = None,
    *,
    host_status: str = "",
    rebuild: bool = False,
    security_groups: list[dict[str, str]] | None = None,
    volumes: dict[str, list[tuple[str, bool]]] | None = None,
) -> dict[str, Any]:
    """The server of PUT /servers/{id} and of the rebuild action (server_groups from 2.71).

    A rebuild also answers key_name from 2.54 and user_data (top level, not the admin's
    OS-EXT-SRV-ATTR:user_data) from 2.57, as Nova's does.
    """
    body = server_detail(
        vc,
        inst,
        fault,
        host_status=host_status,
        groups=groups if vc.version.at_least("2.71") else None,
        security_groups=security_groups,
        volumes=(volumes or {}).get(inst.uuid),
    )
    if not vc.version.at_least("2.75"):
        for key in list(body):
            if key in _NOT_BEFORE_2_75 or key.startswith(_PREFIXES_NOT_BEFORE_2_75):
                del body[key]
        body["addresses"] = {
            net: [{"version": a.get("version"), "addr": a.get("addr")} for a in addrs]
            for net, addrs in (body["addresses"] or {}).items()
        }
    if rebuild:
        if vc.version.at_least("2.54"):
            body["key_name"] = inst.key_name
        if vc.version.at_least("2.57"):
            body.pop("OS-EXT-SRV-ATTR:user_data", None)
            body["user_data"] = inst.user_data
    return body
