"""A real VM boots from a volume through the ``openstack`` CLI: a file-backend volume is
made from the stockyard-tiny image, ``server create --volume`` boots a libvirt guest from
it (its root disk ``vda`` is the volume's qcow2, serial = volume id), the guest answers
ssh, and a marker it writes to its root disk is still there when the volume boots a
second server after the first is deleted.

Same prerequisites as ``test_libvirt`` (libvirtd with QEMU, the stockyard-tiny image,
ssh): skips without them, fails under CI=true. Guests are reached on 127.0.0.1 only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e import test_libvirt as vm
from tests.e2e.conftest import RunningCloud, start_cloud, stop_cloud

MARK = "STOCKYARD-BFV-MARK"
DEADLINE = 180.0


@pytest.fixture(scope="module")
def bfv_cloud() -> Iterator[RunningCloud]:
    problem = vm._libvirt_problem()
    vm._need(problem is None, problem or "")
    image = vm._tiny_image()
    vm._need(image.is_file(), f"{image} is missing (images/build-stockyard-tiny.sh images/out)")
    for tool in ("ssh", "qemu-img", "xorriso", "virsh"):
        vm._need(shutil.which(tool) is not None, f"{tool} is missing (scripts/install-libvirt)")
    with ExitStack() as stack:
        env = {"STOCKYARD_LIBVIRT_URI": vm.URI, "STOCKYARD_TINY_IMAGE": str(image.resolve())}
        # Not under pytest's tmp dir: that is mode 0700, and QEMU runs as libvirt-qemu.
        tmp = Path(tempfile.mkdtemp(prefix="stockyard-e2e-bfv-", dir="/var/tmp"))
        tmp.chmod(0o755)
        stack.callback(shutil.rmtree, tmp, True)
        cloud = start_cloud(tmp, env)
        stack.callback(vm._remove_domains, cloud.data_dir)
        stack.callback(stop_cloud, cloud)
        yield cloud


def _boot(c: RunningCloud, host: str, key: Path, name: str) -> int:
    c.os_json(
        "server", "create", "--flavor", "m1.tiny", "--volume", "bfv-root",
        "--key-name", "demo-key", "--availability-zone", f"az1:{host}", "--wait", name,
    )  # fmt: skip
    endpoint = c.os_json("server", "show", name)["properties"]["ssh_endpoint"]
    port = int(endpoint.partition(":")[2])
    vm._wait(f"ssh to {name}", lambda: vm._ssh(key, port, "hostname").returncode == 0, DEADLINE)
    assert vm._ssh_ok(key, port, "hostname").strip() == name
    return port


def test_vm_boots_from_a_volume(bfv_cloud: RunningCloud) -> None:
    c = bfv_cloud
    host = vm._qemu_host(c)["Hypervisor Hostname"]
    key = c.data_dir.parent / "demo-key.pem"
    key.write_text(c.os("keypair", "create", "demo-key").stdout)
    key.chmod(0o600)
    root = c.os_json("volume", "create", "--image", "stockyard-tiny", "--size", "1", "bfv-root")
    vm._wait(
        "bfv-root available",
        lambda: c.os_json("volume", "show", "bfv-root")["status"] == "available",
        DEADLINE,
    )

    port = _boot(c, host, key, "bfv-a")
    shown = c.os_json("server", "show", "bfv-a")
    assert shown["image"] == "N/A (booted from volume)"
    assert [v["id"] for v in shown["volumes_attached"]] == [root["id"]]
    # The guest's root disk is the volume: virtio serial = the volume id (20 chars kept).
    serial = vm._ssh_ok(key, port, "cat /sys/block/vda/serial 2>/dev/null || true").strip()
    assert serial == root["id"][:20]
    # The tiny image is an ISO; past its end the disk is free to write on.
    vm._ssh_ok(key, port, f"echo {MARK} | dd of=/dev/vda bs=1M seek=900 conv=fsync")
    c.os("server", "delete", "--wait", "bfv-a")
    vm._wait(
        "bfv-root available again",
        lambda: c.os_json("volume", "show", "bfv-root")["status"] == "available",
        DEADLINE,
    )

    port = _boot(c, host, key, "bfv-b")
    assert MARK in vm._ssh_ok(key, port, "dd if=/dev/vda bs=1M skip=900 count=1 2>/dev/null")
    c.os("server", "delete", "--wait", "bfv-b")
    c.os("volume", "delete", "bfv-root")
