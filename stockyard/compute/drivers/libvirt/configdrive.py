"""The config drive: OpenStack's metadata layout on an ISO 9660 volume labelled ``config-2``.

Layout (as Nova writes it with ``force_config_drive``)::

    openstack/latest/meta_data.json   uuid, name, hostname, public_keys, keys, meta, ...
    openstack/latest/network_data.json  links/networks/services of the instance's ports
    openstack/latest/user_data        only when the instance has user data

The ISO is written by ``xorriso`` (Debian package ``xorriso``) in a subprocess, into a
temporary file renamed into place, so a failed build never leaves a half-written drive.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from stockyard.children import child_options
from stockyard.compute.drivers.base import DriverError, InstanceSpec
from stockyard.compute.netdp.netdata import network_data

LABEL = "config-2"
DEFAULT_KEY_NAME = "default"


def meta_data(instance: InstanceSpec) -> dict[str, Any]:
    """The ``meta_data.json`` document of ``instance``."""
    keys: dict[str, str] = {}
    if instance.key_data:
        # The spec carries the key's data, not its name.
        keys[DEFAULT_KEY_NAME] = instance.key_data.strip()
    hostname = instance.hostname or instance.name or instance.uuid
    return {
        "uuid": instance.uuid,
        "name": instance.name or hostname,
        "hostname": hostname,
        "launch_index": 0,
        "availability_zone": None,
        "project_id": instance.project_id,
        "meta": dict(instance.metadata),
        "public_keys": keys,
        "keys": [{"name": k, "type": "ssh", "data": v} for k, v in keys.items()],
    }


def _user_data_bytes(user_data: str) -> bytes:
    # Nova's API carries user_data base64-encoded; accept plain text as well.
    try:
        return base64.b64decode(user_data, validate=True)
    except (binascii.Error, ValueError):
        return user_data.encode()


def write_tree(instance: InstanceSpec, root: Path) -> None:
    """Write the OpenStack layout of ``instance`` under ``root`` (blocking)."""
    latest = root / "openstack" / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    (latest / "meta_data.json").write_text(json.dumps(meta_data(instance), indent=2) + "\n")
    netdata = json.dumps(network_data(instance.ports), indent=2)
    (latest / "network_data.json").write_text(netdata + "\n")
    if instance.user_data:
        (latest / "user_data").write_bytes(_user_data_bytes(instance.user_data))


async def build_config_drive(instance: InstanceSpec, dest: Path, xorriso: str = "xorriso") -> Path:
    """Build the config drive ISO of ``instance`` at ``dest``; return ``dest``."""
    exe = shutil.which(xorriso)
    if exe is None:
        raise DriverError("Cannot build the config drive: xorriso is not installed on the host.")
    staging = Path(
        await asyncio.to_thread(tempfile.mkdtemp, prefix="configdrive-", dir=dest.parent)
    )
    tmp_iso = dest.with_name(dest.name + ".part")
    try:
        await asyncio.to_thread(write_tree, instance, staging / "tree")
        proc = await asyncio.create_subprocess_exec(
            exe, "-as", "mkisofs", "-quiet", "-V", LABEL, "-J", "-r",
            "-o", str(tmp_iso), str(staging / "tree"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            **child_options(),
        )  # fmt: skip
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise DriverError(
                f"Cannot build the config drive: {err.decode(errors='replace').strip()}"
            )
        await asyncio.to_thread(os.chmod, tmp_iso, 0o644)
        await asyncio.to_thread(os.replace, tmp_iso, dest)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)
        await asyncio.to_thread(tmp_iso.unlink, True)
    return dest
