"""Fixtures for the libvirt driver tests.

Unit tests run the real libvirt API against its built-in ``test:///default`` driver (no
hypervisor) and need libvirt-python, qemu-img and xorriso; they skip when those are
missing, except under CI=true where a missing tool is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stockyard.compute.drivers.base import InstanceSpec

IN_CI = os.environ.get("CI") == "true"


def require(ok: bool, reason: str) -> None:
    """Skip (or fail under CI=true) when a prerequisite is missing."""
    if not ok:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def libvirt_available() -> bool:
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def tools() -> None:
    require(libvirt_available(), "libvirt-python is not installed (scripts/install-libvirt)")
    for tool in ("qemu-img", "xorriso"):
        require(
            shutil.which(tool) is not None, f"{tool} is not installed (scripts/install-libvirt)"
        )


@pytest.fixture
def data_dir(tmp_path: Path, tools: None) -> Path:
    """A data dir whose image store holds one small raw image, ``img-raw``."""
    images = tmp_path / "images"
    images.mkdir()
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "raw", str(images / "img-raw"), "1M"], check=True
    )
    return tmp_path


def make_spec(**overrides: object) -> InstanceSpec:
    data: dict[str, object] = {
        "uuid": str(uuid.uuid4()),
        "name": "vm1",
        "hostname": "vm1",
        "flavor": {"vcpus": 2, "ram": 256, "disk": 1},
        "image_ref": "img-raw",
        "key_data": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample demo-key",
    }
    data.update(overrides)
    return InstanceSpec.from_dict(data)


@pytest.fixture
async def driver(data_dir: Path) -> AsyncIterator[object]:
    from stockyard.compute.drivers.libvirt import LibvirtDriver

    drv = LibvirtDriver("test-host", uri="test:///default", data_dir=data_dir, virt_type="qemu")
    yield drv
    # test:///default keeps its domains for the life of the process: remove ours.
    for instance_uuid in list((await drv.list_instances()).keys()):
        await drv.destroy(InstanceSpec(uuid=instance_uuid))
    await drv.close()
