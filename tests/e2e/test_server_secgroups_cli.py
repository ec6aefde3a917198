"""A server's security groups with the real ``openstack`` CLI against ``stockyard up``:
``server add/remove security group`` change the groups of the server's port, and
``server show`` reports them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningCloud

DEMO = "stockyard"


def _groups(c: RunningCloud, server: str) -> Any:
    return c.os_json("server", "show", server, cloud=DEMO).get("security_groups")


def _until_active(c: RunningCloud, server: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if c.os_json("server", "show", server, cloud=DEMO)["status"] == "ACTIVE":
            return
        time.sleep(0.5)
    raise AssertionError(f"{server} never ACTIVE\n{c.log_tail()}")


@pytest.fixture(scope="module")
def net(running_cloud: RunningCloud, tmp_path_factory: pytest.TempPathFactory) -> RunningCloud:
    c = running_cloud
    img = tmp_path_factory.mktemp("img") / "tiny.raw"
    img.write_bytes(b"\0" * 1024)
    c.os("image", "create", "--public", "--file", str(Path(img)), "--disk-format", "raw", "sg-img")
    c.os("network", "create", "sg-net", cloud=DEMO)
    c.os("subnet", "create", "--network", "sg-net", "--subnet-range", "192.168.90.0/24",
         "sg-sub", cloud=DEMO)  # fmt: skip
    return c


def test_add_and_remove_security_group(net: RunningCloud) -> None:
    c = net
    c.os("security", "group", "create", "sg-web", cloud=DEMO)
    c.os("server", "create", "--flavor", "m1.nano", "--image", "sg-img", "--network", "sg-net",
         "sg-vm", cloud=DEMO)  # fmt: skip
    _until_active(c, "sg-vm")
    c.os("server", "add", "security", "group", "sg-vm", "sg-web", cloud=DEMO)
    assert "sg-web" in str(_groups(c, "sg-vm"))
    (port,) = c.os_json("port", "list", "--server", "sg-vm", "--long", cloud=DEMO)
    web = c.os_json("security", "group", "show", "sg-web", cloud=DEMO)
    assert web["id"] in str(port["Security Groups"])
    busy = c.os("security", "group", "delete", "sg-web", cloud=DEMO, check=False)
    assert busy.returncode != 0
    c.os("server", "remove", "security", "group", "sg-vm", "sg-web", cloud=DEMO)
    assert "sg-web" not in str(_groups(c, "sg-vm"))
    assert "default" in str(_groups(c, "sg-vm"))
    c.os("server", "delete", "--wait", "sg-vm", cloud=DEMO)
    c.os("security", "group", "delete", "sg-web", cloud=DEMO)
