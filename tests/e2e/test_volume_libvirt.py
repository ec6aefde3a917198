"""Volumes on real VMs through the real ``openstack`` CLI: ``server add volume`` /
``server remove volume`` on two libvirt guests of ``stockyard up``, a marker written
through ssh onto ``/dev/vdb`` of the first read back on the second, and a detach the
guest never acknowledges; with the ``file`` backend, and with ``lvm`` (a loop-device
volume group) where the kernel has device-mapper.

Same prerequisites as ``test_libvirt`` (libvirtd with QEMU, the stockyard-tiny image,
ssh): skips without them, fails under CI=true. Guests are reached on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e import test_libvirt as vm
from tests.e2e.conftest import RunningCloud, start_cloud, stop_cloud
from tests.lvm_group import NO_DM, device_mapper, loop_volume_group

MARK = "STOCKYARD-VOLUME-MARK"
# The PIIX4 ACPI hot-plug event of QEMU's ``pc`` machine: a guest that masks it never
# sees an unplug request.
HOTPLUG_GPE = "/sys/firmware/acpi/interrupts/gpe01"
DETACH_WAIT = 10.0
STATUS_DEADLINE = 180.0


@pytest.fixture(scope="module", params=["file", "lvm"])
def volume_cloud(request: pytest.FixtureRequest) -> Iterator[tuple[RunningCloud, str]]:
    """``stockyard up`` with the libvirt host and the backend the test is about."""
    backend = str(request.param)
    problem = vm._libvirt_problem()
    vm._need(problem is None, problem or "")
    image = vm._tiny_image()
    vm._need(image.is_file(), f"{image} is missing (images/build-stockyard-tiny.sh images/out)")
    for tool in ("ssh", "qemu-img", "xorriso", "virsh"):
        vm._need(shutil.which(tool) is not None, f"{tool} is missing (scripts/install-libvirt)")
    if backend == "lvm" and not device_mapper():
        pytest.skip(NO_DM)
    with ExitStack() as stack:
        env = {
            "STOCKYARD_LIBVIRT_URI": vm.URI,
            "STOCKYARD_TINY_IMAGE": str(image.resolve()),
            "STOCKYARD_VOLUME_DETACH_TIMEOUT_SECONDS": str(DETACH_WAIT),
        }
        if backend == "lvm":
            group = stack.enter_context(loop_volume_group(3))
            env["STOCKYARD_VOLUME_BACKENDS"] = json.dumps({"file": "file", "lvm": "lvm"})
            env["STOCKYARD_VOLUME_LVM_GROUP"] = group
        # Not under pytest's tmp dir: that is mode 0700, and QEMU runs as libvirt-qemu.
        tmp = Path(tempfile.mkdtemp(prefix="stockyard-e2e-volumes-", dir="/var/tmp"))
        tmp.chmod(0o755)
        stack.callback(shutil.rmtree, tmp, True)
        cloud = start_cloud(tmp, env)
        stack.callback(vm._remove_domains, cloud.data_dir)
        stack.callback(stop_cloud, cloud)
        yield cloud, backend


def _failed_detach(c: RunningCloud, server: str) -> str | None:
    """The traceback of the server's failed ``compute_detach_volume`` event, if any."""
    for action in c.os_json("server", "event", "list", server):
        if action["Action"] != "detach_volume":
            continue
        shown = c.os_json("server", "event", "show", server, action["Request ID"])
        for event in shown.get("events") or []:
            if event.get("event") == "compute_detach_volume" and event.get("result") == "Error":
                return str(event.get("traceback") or "")
    return None


def _volume_status(c: RunningCloud, name: str) -> str:
    return str(c.os_json("volume", "show", name)["status"])


def _wait_volume(c: RunningCloud, name: str, status: str) -> None:
    vm._wait(f"volume {name} {status}", lambda: _volume_status(c, name) == status, STATUS_DEADLINE)


def _serial(key: Path, port: int) -> str:
    return vm._ssh_ok(key, port, "cat /sys/block/vdb/serial 2>/dev/null || true").strip()


def _boot(c: RunningCloud, host: str, name: str) -> int:
    c.os_json(
        "server", "create", "--flavor", "m1.tiny", "--image", "stockyard-tiny",
        "--key-name", "demo-key", "--availability-zone", f"az1:{host}", "--wait", name,
    )  # fmt: skip
    endpoint = c.os_json("server", "show", name)["properties"]["ssh_endpoint"]
    port = int(endpoint.partition(":")[2])
    assert vm._ssh_ok(c_key(c), port, "hostname").strip() == name
    return port


def c_key(c: RunningCloud) -> Path:
    return c.data_dir.parent / "demo-key.pem"


def test_marker_moves_between_servers(volume_cloud: tuple[RunningCloud, str]) -> None:
    c, backend = volume_cloud
    host = vm._qemu_host(c)["Hypervisor Hostname"]
    key = c_key(c)
    key.write_text(c.os("keypair", "create", "demo-key").stdout)
    key.chmod(0o600)
    create = ["volume", "create", "--size", "1"]
    if backend != "file":
        c.os("volume", "type", "create", "--property", f"volume_backend_name={backend}", backend)
        create += ["--type", backend]
    volume = c.os_json(*create, "vol1")
    _wait_volume(c, "vol1", "available")
    port_a = _boot(c, host, "vm-a")
    port_b = _boot(c, host, "vm-b")

    c.os("server", "add", "volume", "vm-a", "vol1")
    _wait_volume(c, "vol1", "in-use")
    attached = c.os_json("volume", "show", "vol1")["attachments"]
    assert [a["server_id"] for a in attached] == [c.os_json("server", "show", "vm-a")["id"]]
    # The guest sees the volume as vdb, named by the volume id (virtio keeps 20 chars).
    vm._wait("vdb in vm-a", lambda: _serial(key, port_a) == volume["id"][:20], 60)
    vm._ssh_ok(key, port_a, f"echo {MARK} | dd of=/dev/vdb bs=4k conv=fsync")

    c.os("server", "remove", "volume", "vm-a", "vol1")
    _wait_volume(c, "vol1", "available")
    vm._wait("vdb gone from vm-a", lambda: _serial(key, port_a) == "", 60)

    c.os("server", "add", "volume", "vm-b", "vol1")
    _wait_volume(c, "vol1", "in-use")
    vm._wait("vdb in vm-b", lambda: _serial(key, port_b) == volume["id"][:20], 60)
    assert MARK in vm._ssh_ok(key, port_b, "head -c 64 /dev/vdb")

    # A guest that never acknowledges the unplug (its ACPI hot-plug event masked): the
    # detach fails after the host's wait, the volume stays in-use, the server's events
    # say why; once the guest listens again, the detach goes through.
    vm._ssh_ok(key, port_b, f"echo disable > {HOTPLUG_GPE}")
    c.os("server", "remove", "volume", "vm-b", "vol1")
    failed = vm._wait("the failed detach event", lambda: _failed_detach(c, "vm-b"), 120)
    assert f"did not release volume {volume['id']} within {DETACH_WAIT:g} s" in failed
    assert _volume_status(c, "vol1") == "in-use"
    assert _serial(key, port_b) == volume["id"][:20]
    vm._ssh_ok(key, port_b, f"echo enable > {HOTPLUG_GPE}")
    c.os("server", "remove", "volume", "vm-b", "vol1")
    _wait_volume(c, "vol1", "available")
    vm._wait("vdb gone from vm-b", lambda: _serial(key, port_b) == "", 60)

    for name in ("vm-a", "vm-b"):
        c.os("server", "delete", "--wait", name)
    c.os("volume", "delete", "vol1")
    vm._wait("vol1 deleted", lambda: "vol1" not in c.os("volume", "list").stdout, 60)
