"""The config drive: OpenStack layout on an ISO 9660 volume labelled config-2."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

from stockyard.compute.drivers.libvirt.configdrive import build_config_drive, meta_data
from tests.libvirt.conftest import make_spec

ISO_SECTOR = 2048


def volume_label(iso: Path) -> str:
    # Primary volume descriptor: sector 16, volume identifier at byte 40 (32 bytes).
    with iso.open("rb") as fh:
        fh.seek(16 * ISO_SECTOR)
        pvd = fh.read(ISO_SECTOR)
    assert pvd[1:6] == b"CD001"
    return pvd[40:72].decode().strip()


def extract(iso: Path, dest: Path) -> Path:
    subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def test_meta_data_has_identity_and_keys() -> None:
    spec = make_spec(hostname="web-1", name="Web 1")
    doc = meta_data(spec)
    assert doc["uuid"] == spec.uuid
    assert doc["hostname"] == "web-1"
    assert doc["name"] == "Web 1"
    assert list(doc["public_keys"].values()) == [spec.key_data]


def test_meta_data_without_key() -> None:
    assert meta_data(make_spec(key_data=None))["public_keys"] == {}


async def test_iso_is_labelled_config_2_with_openstack_layout(tmp_path: Path, tools: None) -> None:
    user_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    spec = make_spec(user_data=user_data)
    iso = await build_config_drive(spec, tmp_path / "config.iso")
    assert volume_label(iso) == "config-2"
    tree = extract(iso, tmp_path / "x")
    latest = tree / "openstack" / "latest"
    doc = json.loads((latest / "meta_data.json").read_text())
    assert doc["uuid"] == spec.uuid
    assert doc["hostname"] == "vm1"
    assert spec.key_data in doc["public_keys"].values()
    assert (latest / "user_data").read_bytes() == b"#!/bin/sh\necho hi\n"


async def test_no_user_data_file_without_user_data(tmp_path: Path, tools: None) -> None:
    iso = await build_config_drive(make_spec(), tmp_path / "config.iso")
    tree = extract(iso, tmp_path / "x")
    assert not (tree / "openstack" / "latest" / "user_data").exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".part")]
