"""End to end under a real hypervisor: the stockyard-tiny image boots through the driver.

Needs libvirtd with QEMU (``scripts/install-libvirt``) and the image (built here by
``images/build-stockyard-tiny.sh`` unless ``STOCKYARD_TINY_IMAGE`` names it). Skips when
those are absent, except with CI=true and ``STOCKYARD_LIBVIRT_URI`` set, where it fails.
Guest access goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from stockyard.compute.drivers.base import DriverError, InstanceSpec, PowerState
from tests.libvirt.conftest import make_spec

URI = os.environ.get("STOCKYARD_LIBVIRT_URI", "qemu:///system")
MUST_RUN = os.environ.get("CI") == "true" and "STOCKYARD_LIBVIRT_URI" in os.environ
REPO = Path(__file__).resolve().parents[2]
MARKER = "STOCKYARD-READY"
BOOT_TIMEOUT = 180.0


def _need(ok: bool, reason: str) -> None:
    if not ok:
        if MUST_RUN:
            pytest.fail(f"CI=true and STOCKYARD_LIBVIRT_URI set, but {reason}")
        pytest.skip(reason)


def _libvirt_reachable() -> str | None:
    try:
        import libvirt
    except ImportError:
        return "libvirt-python is not installed"
    try:
        libvirt.open(URI).close()
    except libvirt.libvirtError as exc:
        return f"libvirtd not reachable at {URI}: {exc}"
    return None


@pytest.fixture(scope="module")
def tiny_image() -> Path:
    problem = _libvirt_reachable()
    _need(problem is None, problem or "")
    for tool in ("qemu-system-x86_64", "qemu-img", "xorriso", "ssh", "ssh-keygen"):
        _need(shutil.which(tool) is not None, f"{tool} is not installed")
    given = os.environ.get("STOCKYARD_TINY_IMAGE")
    if given:
        return Path(given)
    out = REPO / "images" / "out"
    subprocess.run([str(REPO / "images" / "build-stockyard-tiny.sh"), str(out)], check=True)
    return out / "stockyard-tiny.img"


@pytest.fixture
def vm_data_dir(tiny_image: Path) -> Iterator[Path]:
    # Not under pytest's tmp dir: that is mode 0700 and QEMU runs as libvirt-qemu.
    path = Path(tempfile.mkdtemp(prefix="stockyard-libvirt-", dir="/var/tmp"))
    path.chmod(0o755)
    (path / "images").mkdir()
    shutil.copyfile(tiny_image, path / "images" / "stockyard-tiny")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def qemu_driver(vm_data_dir: Path) -> AsyncIterator[Any]:
    from stockyard.compute.drivers.libvirt import LibvirtDriver

    drv = LibvirtDriver("local", uri=URI, data_dir=vm_data_dir, shutdown_timeout=60)
    drv.created_here = []  # type: ignore[attr-defined]
    yield drv
    for instance_uuid in list(drv.created_here):  # type: ignore[attr-defined]
        await drv.destroy(InstanceSpec(uuid=instance_uuid))
    await drv.close()


DISK_MARK = "STOCKYARD-DISK-MARK"
MARK_SEEK_MB = 512  # inside the 1 GB root disk, far past the image's data


@pytest.fixture
def ssh_key(tmp_path: Path) -> Path:
    key = tmp_path / "demo-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


async def wait_for_markers(drv: Any, spec: InstanceSpec, count: int) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOOT_TIMEOUT
    while True:
        log = await drv.get_console_output(spec, None)
        if log.count(f"{MARKER} {spec.hostname}") >= count:
            return str(log)
        if loop.time() > deadline:
            pytest.fail(f"no ready marker #{count} on the console:\n{log[-2000:]}")
        await asyncio.sleep(0.5)


async def ssh(key: Path, port: str, command: str) -> str:
    args = [
        "ssh", "-i", str(key), "-p", port, "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "root@127.0.0.1", command,
    ]  # fmt: skip
    for _ in range(10):
        proc = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        if proc.returncode == 0:
            return out.decode().strip()
        await asyncio.sleep(1)
    pytest.fail(f"ssh to 127.0.0.1:{port} failed: {err.decode()}")


async def wait_power(drv: Any, spec: InstanceSpec, state: PowerState) -> None:
    for _ in range(240):
        if (await drv.list_instances()).get(spec.uuid) == state:
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"guest never reached {state.name}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_boot_ssh_lifecycle_and_clean_delete(
    qemu_driver: Any, vm_data_dir: Path, ssh_key: Path
) -> None:
    drv = qemu_driver
    spec = make_spec(
        hostname="vm1",
        image_ref="stockyard-tiny",
        flavor={"vcpus": 1, "ram": 256, "disk": 1},
        key_data=(ssh_key.with_suffix(".pub")).read_text(),
    )
    drv.created_here.append(spec.uuid)
    await drv.spawn(spec)
    assert await drv.get_power_state(spec) == PowerState.RUNNING
    await wait_for_markers(drv, spec, 1)
    endpoint = (await drv.get_instance_metadata(spec))["ssh_endpoint"]
    host, _, port = endpoint.partition(":")
    assert host == "127.0.0.1"
    assert await ssh(ssh_key, port, "hostname") == "vm1"

    await drv.reboot(spec, hard=True)
    await wait_for_markers(drv, spec, 2)
    await drv.reboot(spec, hard=False)
    await wait_for_markers(drv, spec, 3)

    await drv.power_off(spec)
    assert await drv.get_power_state(spec) == PowerState.SHUTDOWN
    await drv.power_on(spec)
    await wait_for_markers(drv, spec, 4)

    # Shut down from inside the guest: the host sees it as SHUTDOWN.
    await ssh(ssh_key, port, "poweroff")
    await wait_power(drv, spec, PowerState.SHUTDOWN)
    await drv.power_on(spec)
    await wait_for_markers(drv, spec, 5)

    # The guest's / lives in RAM, so the mark goes on the root disk itself (past the
    # image's data): a rebuild must give a fresh overlay without it.
    read_mark = f"dd if=/dev/vda bs=1M skip={MARK_SEEK_MB} count=1 2>/dev/null | head -c 32"
    await ssh(ssh_key, port, f"echo {DISK_MARK} | dd of=/dev/vda bs=1M seek={MARK_SEEK_MB}")
    await ssh(ssh_key, port, "sync")
    assert DISK_MARK in await ssh(ssh_key, port, read_mark)
    await drv.rebuild(spec)
    await wait_for_markers(drv, spec, 6)
    assert DISK_MARK not in (await ssh(ssh_key, port, read_mark)).replace("\0", "")
    assert (await drv.get_instance_metadata(spec))["ssh_endpoint"] == endpoint
    assert await ssh(ssh_key, port, "hostname") == "vm1"

    await drv.destroy(spec)
    assert spec.uuid not in await drv.list_instances()
    assert not (vm_data_dir / "libvirt" / "instances" / spec.uuid).exists()
    assert not port_open(int(port))


async def test_domain_that_cannot_start_gives_a_readable_fault(
    qemu_driver: Any, vm_data_dir: Path
) -> None:
    spec = make_spec(image_ref="stockyard-tiny", flavor={"vcpus": 1000, "ram": 256, "disk": 1})
    qemu_driver.created_here.append(spec.uuid)
    with pytest.raises(DriverError) as failure:
        await qemu_driver.spawn(spec)
    assert "libvirt on local" in failure.value.message
    assert "CPU" in failure.value.message or "cpu" in failure.value.message
    assert spec.uuid not in await qemu_driver.list_instances()
    assert not (vm_data_dir / "libvirt" / "instances" / spec.uuid).exists()
