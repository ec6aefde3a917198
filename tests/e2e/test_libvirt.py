"""Real VMs through the real ``openstack`` CLI: ``stockyard up`` with this machine enrolled
as a libvirt hypervisor (``STOCKYARD_LIBVIRT_URI``) and the stockyard-tiny image.

Needs libvirtd with QEMU (``scripts/install-libvirt``), the image
(``images/build-stockyard-tiny.sh images/out``, or ``STOCKYARD_TINY_IMAGE``) and ssh.
Skips when any is missing, but fails under CI=true. One small guest at a time: under TCG
on a shared 2-core machine every boot costs seconds. Guests are reached on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CAPACITY, RunningCloud, start_cloud, stop_cloud

REPO = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
MARKER = "STOCKYARD-READY"  # printed by images/rootfs/etc/init.d/rcS, then the hostname
BOOT_DEADLINE = 300.0
DISK_MARK = "STOCKYARD-DISK-MARK"
# Written past the image's end on the root disk: the guest's / is RAM (an initramfs), so
# only the block device itself tells a kept root disk from a fresh one.
MARK_SEEK_MB = 512


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def _libvirt_problem() -> str | None:
    try:
        import libvirt
    except ImportError:
        return "libvirt-python is not installed (scripts/install-libvirt)"
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as exc:
        return f"libvirtd is not reachable at {URI} (scripts/install-libvirt): {exc}"
    return None


def _tiny_image() -> Path:
    given = os.environ.get("STOCKYARD_TINY_IMAGE")
    return Path(given) if given else REPO / "images" / "out" / "stockyard-tiny.img"


def _virsh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True)


def _remove_domains(data_dir: Path) -> None:
    """Undefine the guests a failed test left behind (their uuids are the instance dirs)."""
    instances = data_dir / "libvirt" / "instances"
    if instances.is_dir():
        for entry in instances.iterdir():
            _virsh("destroy", f"stockyard-{entry.name}")
            _virsh("undefine", f"stockyard-{entry.name}")


@pytest.fixture(scope="module")
def vm_cloud() -> Iterator[RunningCloud]:
    """``stockyard up`` with the libvirt host enrolled and stockyard-tiny registered."""
    problem = _libvirt_problem()
    _need(problem is None, problem or "")
    image = _tiny_image()
    _need(image.is_file(), f"{image} is missing (images/build-stockyard-tiny.sh images/out)")
    for tool in ("ssh", "qemu-img", "xorriso", "virsh"):
        _need(shutil.which(tool) is not None, f"{tool} is not installed (scripts/install-libvirt)")
    # Not under pytest's tmp dir: that is mode 0700, and QEMU runs as libvirt-qemu.
    tmp = Path(tempfile.mkdtemp(prefix="stockyard-e2e-libvirt-", dir="/var/tmp"))
    tmp.chmod(0o755)
    cloud = start_cloud(
        tmp,
        {"STOCKYARD_LIBVIRT_URI": URI, "STOCKYARD_TINY_IMAGE": str(image.resolve())},
    )
    try:
        yield cloud
    finally:
        stop_cloud(cloud)
        _remove_domains(cloud.data_dir)
        shutil.rmtree(tmp, ignore_errors=True)


def _qemu_host(cloud: RunningCloud) -> dict[str, Any]:
    hypervisors = cloud.os_json(*CAPACITY, "hypervisor", "list", "--long")
    qemu = [h for h in hypervisors if h["Hypervisor Type"] == "QEMU"]
    assert len(qemu) == 1, hypervisors
    return qemu[0]


def _wait(what: str, check: Callable[[], Any], deadline_s: float = BOOT_DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}; last: {last!r}")


def _status(cloud: RunningCloud, name: str) -> str:
    return str(cloud.os_json("server", "show", name)["status"])


def _ssh(key: Path, port: int, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "root@127.0.0.1", command,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _ssh_ok(key: Path, port: int, command: str) -> str:
    """``command``'s output once ssh gets through (the guest may still be booting)."""

    def attempt() -> tuple[str] | None:
        proc = _ssh(key, port, command)
        # A tuple: an empty output is still a success.
        return (proc.stdout,) if proc.returncode == 0 else None

    return str(_wait(f"ssh 127.0.0.1:{port} {command!r}", attempt)[0])


def _read_disk_mark(key: Path, port: int) -> str:
    out = _ssh_ok(
        key, port, f"dd if=/dev/vda bs=1M skip={MARK_SEEK_MB} count=1 2>/dev/null | head -c 64"
    )
    return out.replace("\0", "")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _domain_exists(instance_uuid: str) -> bool:
    return _virsh("domstate", f"stockyard-{instance_uuid}").returncode == 0


def test_vm_boots_answers_ssh_and_leaves_nothing_behind(
    vm_cloud: RunningCloud, tmp_path: Path
) -> None:
    c = vm_cloud
    host = _qemu_host(c)
    name = host["Hypervisor Hostname"]
    assert name == socket.gethostname()
    assert host["vCPUs"] == os.cpu_count()
    assert host["Memory MB"] > 0 and host["State"] == "up"

    key = tmp_path / "demo-key.pem"
    key.write_text(c.os("keypair", "create", "demo-key").stdout)
    key.chmod(0o600)

    created = c.os_json(
        "server", "create", "--flavor", "m1.tiny", "--image", "stockyard-tiny",
        "--key-name", "demo-key", "--availability-zone", f"az1:{name}", "--wait", "vm1",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    server = c.os_json("server", "show", "vm1")
    uuid = server["id"]
    assert server["OS-EXT-SRV-ATTR:host"] == name
    endpoint = server["properties"]["ssh_endpoint"]
    ip, _, port_text = endpoint.partition(":")
    assert ip == "127.0.0.1" and port_text.isdigit()
    port = int(port_text)
    assert server["addresses"]["user"] == ["10.0.2.15"]
    assert len(server["addresses"]["provider"]) == 1

    def console_ready() -> str | None:
        log = c.os("console", "log", "show", "vm1").stdout
        return log if f"{MARKER} vm1" in log else None

    log = _wait("the ready marker in 'console log show'", console_ready)
    assert "config drive found" in log
    last = c.os("console", "log", "show", "--lines", "1", "vm1").stdout.strip()
    assert last and "\n" not in last

    assert _ssh_ok(key, port, "hostname").strip() == "vm1"
    _ssh_ok(key, port, f"echo {DISK_MARK} | dd of=/dev/vda bs=1M seek={MARK_SEEK_MB} conv=fsync")
    assert _read_disk_mark(key, port).startswith(DISK_MARK)

    c.os("server", "reboot", "--hard", "--wait", "vm1")
    assert _status(c, "vm1") == "ACTIVE"
    assert _ssh_ok(key, port, "hostname").strip() == "vm1"
    # The root disk survives a reboot...
    assert _read_disk_mark(key, port).startswith(DISK_MARK)

    c.os("server", "stop", "vm1")
    _wait("SHUTOFF", lambda: _status(c, "vm1") == "SHUTOFF")
    assert _virsh("domstate", f"stockyard-{uuid}").stdout.strip() == "shut off"
    c.os("server", "start", "vm1")
    _wait("ACTIVE after start", lambda: _status(c, "vm1") == "ACTIVE")
    assert _ssh_ok(key, port, "hostname").strip() == "vm1"

    c.os("server", "rebuild", "--image", "stockyard-tiny", "--wait", "vm1")
    rebuilt = c.os_json("server", "show", "vm1")
    assert rebuilt["status"] == "ACTIVE"
    assert rebuilt["properties"]["ssh_endpoint"] == endpoint
    assert _ssh_ok(key, port, "hostname").strip() == "vm1"
    # ...but not a rebuild: a fresh overlay on the image.
    assert DISK_MARK not in _read_disk_mark(key, port)

    c.os("server", "delete", "--wait", "vm1")
    names = {s["Name"] for s in c.os_json("server", "list")}
    assert "vm1" not in names
    assert not _domain_exists(uuid)
    instances = c.data_dir / "libvirt" / "instances"
    assert not (instances / uuid).exists()
    assert list(instances.iterdir()) == []
    _wait(f"port {port} to close", lambda: not _listening(port), 30)


def test_domain_libvirt_refuses_gives_error_with_libvirts_message(
    vm_cloud: RunningCloud, tmp_path: Path
) -> None:
    c = vm_cloud
    name = _qemu_host(c)["Hypervisor Hostname"]
    # A qcow2 image backed by QEMU's null driver: qemu-img accepts it, libvirt does not
    # know the backing protocol and refuses to start the domain.
    broken = tmp_path / "broken.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", "null-co://", "-F", "raw",
         str(broken), "64M"],
        check=True,
    )  # fmt: skip
    c.os(
        "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
        "--file", str(broken), "broken-backing",
    )  # fmt: skip
    create = c.os(
        "server", "create", "--flavor", "m1.tiny", "--image", "broken-backing",
        "--availability-zone", f"az1:{name}", "--wait", "vm-bad",
        check=False,
    )  # fmt: skip
    assert create.returncode != 0
    server = c.os_json("server", "show", "vm-bad")
    assert server["status"] == "ERROR"
    fault = server["fault"]
    assert f"libvirt on {name}:" in fault["message"]
    assert "backing protocol 'null-co'" in fault["message"]
    # The host was forced: no reschedule to the lab's other hypervisors.
    assert f"(tried hosts: {name})" in fault["message"]
    # Nothing left of the failed domain on the host.
    assert not _domain_exists(server["id"])
    assert not (c.data_dir / "libvirt" / "instances" / server["id"]).exists()
    c.os("server", "delete", "--wait", "vm-bad")


def test_forcing_a_host_is_admin_only(vm_cloud: RunningCloud) -> None:
    c = vm_cloud
    name = _qemu_host(c)["Hypervisor Hostname"]
    denied = c.os(
        "server", "create", "--flavor", "m1.tiny", "--image", "stockyard-tiny",
        "--availability-zone", f"az1:{name}", "vm-demo",
        cloud="stockyard", check=False,
    )  # fmt: skip
    assert denied.returncode != 0
    assert "forcing a host" in denied.stderr
