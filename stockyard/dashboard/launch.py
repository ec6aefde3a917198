"""The one-page create form: its choices from the APIs, and the calls it makes.

A VM and a baremetal server are the same request (a baremetal flavor names a resource
class), so one form serves both. An HA group can be an existing server group or a new
one made in the same submit (policy + ``failure_domain`` rule, compute 2.64); a new group
whose servers the API then refuses is deleted again, so a failed submit leaves nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from stockyard.dashboard.client import APIFailure, Cloud
from stockyard.dashboard.servers_data import images
from stockyard.dashboard.together import together

POLICIES = {
    "anti-affinity": "anti-affinity (hard: must spread)",
    "soft-anti-affinity": "soft anti-affinity (spread as far as possible)",
    "affinity": "affinity (hard: together)",
    "soft-affinity": "soft affinity (together if possible)",
}
FAILURE_DOMAINS = {"host": "host", "rack": "rack", "az": "availability zone", "region": "region"}
MAX_COUNT = 100
MAX_ROOT_VOLUME_GB = 16384


@dataclass
class LaunchOptions:
    """What the form offers: every list as the API returned it to this user."""

    flavors: list[dict[str, Any]]
    images: list[dict[str, Any]]
    keypairs: list[str]
    zones: list[str]
    groups: list[dict[str, Any]]
    networks: list[dict[str, Any]] | None  # None: no network service in the catalog
    volumes: bool = False  # a block-storage service is in the catalog: boot from volume


async def _networks(cloud: Cloud) -> list[dict[str, Any]] | None:
    if not cloud.has("network"):
        return None
    body = await cloud.request("GET", "network", "/v2.0/networks")
    return sorted(body.get("networks", []), key=lambda n: n.get("name") or n["id"])


async def options(cloud: Cloud) -> LaunchOptions:
    flavors, image_list, keys, zones, groups, networks = await together(
        cloud.compute("GET", "/flavors/detail"),
        images(cloud),
        cloud.compute("GET", "/os-keypairs"),
        cloud.compute("GET", "/os-availability-zone"),
        cloud.compute("GET", "/os-server-groups"),
        _networks(cloud),
    )
    return LaunchOptions(
        flavors=sorted(
            flavors.get("flavors", []), key=lambda f: (f.get("vcpus", 0), f.get("ram", 0))
        ),
        images=[i for i in image_list if i.get("status") == "active"],
        keypairs=sorted(k["keypair"]["name"] for k in keys.get("keypairs", [])),
        zones=sorted(
            z["zoneName"]
            for z in zones.get("availabilityZoneInfo", [])
            if (z.get("zoneState") or {}).get("available", True)
        ),
        groups=sorted(groups.get("server_groups", []), key=lambda g: g.get("name") or ""),
        networks=networks,
        volumes=cloud.has("block-storage"),
    )


class FormError(Exception):
    """A field the dashboard can check before asking the API (a number, a choice)."""


def _count(form: dict[str, str]) -> int:
    try:
        count = int(form.get("count") or "1")
    except ValueError:
        raise FormError("Count must be a whole number.") from None
    if not 1 <= count <= MAX_COUNT:
        raise FormError(f"Count must be between 1 and {MAX_COUNT}.")
    return count


def _root_volume_gb(form: dict[str, str]) -> int | None:
    raw = (form.get("root_volume_gb") or "").strip()
    if not raw:
        return None
    try:
        size = int(raw)
    except ValueError:
        raise FormError("Root volume size must be a whole number of GiB.") from None
    if not 1 <= size <= MAX_ROOT_VOLUME_GB:
        raise FormError(f"Root volume size must be between 1 and {MAX_ROOT_VOLUME_GB} GiB.")
    return size


def server_request(form: dict[str, str], group_id: str | None) -> dict[str, Any]:
    """The ``POST /servers`` body for the submitted form."""
    count = _count(form)
    server: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "flavorRef": form.get("flavor", ""),
        "imageRef": form.get("image", ""),
        "min_count": count,
        "max_count": count,
    }
    network = form.get("network") or "auto"
    server["networks"] = network if network in ("auto", "none") else [{"uuid": network}]
    if form.get("key_name"):
        server["key_name"] = form["key_name"]
    if form.get("availability_zone"):
        server["availability_zone"] = form["availability_zone"]
    if (size := _root_volume_gb(form)) is not None:
        # Boot from volume: the image is copied onto a new volume (Nova's mapping for
        # `openstack server create --boot-from-volume`); the server has no image of its own.
        server["block_device_mapping_v2"] = [
            {
                "boot_index": 0,
                "uuid": server.pop("imageRef"),
                "source_type": "image",
                "destination_type": "volume",
                "volume_size": size,
                "delete_on_termination": form.get("keep_root_volume") != "on",
            }
        ]
        server["imageRef"] = ""
    body: dict[str, Any] = {"server": server}
    if group_id:
        body["os:scheduler_hints"] = {"group": group_id}
    return body


def group_request(form: dict[str, str]) -> dict[str, Any]:
    """The ``POST /os-server-groups`` body of a new group (2.64: policy + rules)."""
    name = form.get("group_name", "").strip()
    if not name:
        raise FormError("A new HA group needs a name.")
    policy = form.get("group_policy", "")
    if policy not in POLICIES:
        raise FormError("Choose the new HA group's policy.")
    domain = form.get("group_failure_domain") or "host"
    if domain not in FAILURE_DOMAINS:
        raise FormError("Choose the new HA group's failure domain.")
    group: dict[str, Any] = {"name": name, "policy": policy}
    if domain != "host":  # host is the API's default; say only what differs
        group["rules"] = {"failure_domain": domain}
    return {"server_group": group}


async def launch(cloud: Cloud, form: dict[str, str]) -> int:
    """Create the servers the form asks for; how many. FormError/APIFailure say why not."""
    count = _count(form)
    server_request(form, None)  # the form's own errors, before a group is made
    choice = form.get("group") or ""
    new_group: str | None = None
    if choice == "new":
        body = await cloud.compute("POST", "/os-server-groups", json=group_request(form))
        new_group = str(body["server_group"]["id"])
    try:
        await cloud.compute("POST", "/servers", json=server_request(form, new_group or choice))
    except APIFailure:
        if new_group is not None:
            with contextlib.suppress(APIFailure):
                await cloud.compute("DELETE", f"/os-server-groups/{new_group}")
        raise
    return count
