"""Boot from volume with the real ``openstack`` CLI against ``stockyard up`` (emulated
lab, file backend): ``server create --volume``, ``--image --boot-from-volume``, the
volumes listed by ``server show``, and what a delete leaves of them."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import RunningCloud
from tests.e2e.test_volume_cli import _gone, _wait

DEMO = "stockyard"


def _create(c: RunningCloud, name: str, *args: str) -> dict[str, Any]:
    cmd = ["server", "create", "--flavor", "m1.tiny", "--no-network", *args, "--wait", name]
    return dict(c.os_json(*cmd, cloud=DEMO))


def _volumes_of(c: RunningCloud, server: str) -> list[str]:
    shown = c.os_json("server", "show", server, cloud=DEMO)
    return [v["id"] for v in shown["volumes_attached"]]


def test_boot_from_volume(running_cloud: RunningCloud) -> None:
    c = running_cloud
    root = c.os_json(
        "volume", "create", "--image", "stockyard-default", "--size", "1", "bfv-root", cloud=DEMO
    )
    _wait(c, ["volume"], "bfv-root", "available", DEMO)

    # --volume: boots from an existing volume; no image of its own.
    server = _create(c, "bfv-1", "--volume", "bfv-root")
    assert server["status"] == "ACTIVE", server
    assert server["image"] == "N/A (booted from volume)"
    assert _volumes_of(c, "bfv-1") == [root["id"]]
    shown = _wait(c, ["volume"], "bfv-root", "in-use", DEMO)
    assert [(a["server_id"], a["device"]) for a in shown["attachments"]] == [
        (server["id"], "/dev/vda")
    ]
    # The root volume cannot be detached, nor deleted while the server runs.
    detach = c.os("server", "remove", "volume", "bfv-1", "bfv-root", cloud=DEMO, check=False)
    assert detach.returncode != 0 and "root device volume" in detach.stderr
    assert c.os("volume", "delete", "bfv-root", cloud=DEMO, check=False).returncode != 0

    # --image --boot-from-volume: the cloud makes the root volume from the image.
    server2 = _create(c, "bfv-2", "--image", "stockyard-default", "--boot-from-volume", "1")
    assert server2["status"] == "ACTIVE", server2
    (made,) = _volumes_of(c, "bfv-2")
    volume = c.os_json("volume", "show", made, cloud=DEMO)
    assert (volume["status"], volume["size"], volume["bootable"]) == ("in-use", 1, True)

    # A third with delete_on_termination.
    server3 = _create(
        c, "bfv-3", "--image", "stockyard-default", "--boot-from-volume", "1",
        "--delete-on-termination",
    )  # fmt: skip
    assert server3["status"] == "ACTIVE", server3
    (doomed,) = _volumes_of(c, "bfv-3")
    shown = c.os_json("--os-compute-api-version", "2.79", "server", "show", "bfv-3", cloud=DEMO)
    assert shown["volumes_attached"] == [{"id": doomed, "delete_on_termination": True}]

    # Deleting: volumes without delete_on_termination stay (available), the other goes.
    c.os("server", "delete", "--wait", "bfv-1", "bfv-2", "bfv-3", cloud=DEMO)
    _wait(c, ["volume"], "bfv-root", "available", DEMO)
    _wait(c, ["volume"], made, "available", DEMO)
    _gone(c, ["volume"], doomed, DEMO)

    # Booting again from the kept volume works (it was released, not left reserved).
    again = _create(c, "bfv-4", "--volume", "bfv-root")
    assert again["status"] == "ACTIVE", again
    c.os("server", "delete", "--wait", "bfv-4", cloud=DEMO)
    _wait(c, ["volume"], "bfv-root", "available", DEMO)


def test_boot_from_volume_failure_is_readable(running_cloud: RunningCloud) -> None:
    c = running_cloud
    project = c.os_json("token", "issue", cloud=DEMO)["project_id"]
    used = len(c.os_json("volume", "list", cloud=DEMO))
    c.os("quota", "set", "--volumes", str(used), project)
    try:
        c.os(
            "server", "create", "--flavor", "m1.tiny", "--no-network", "--image",
            "stockyard-default", "--boot-from-volume", "1", "bfv-q", cloud=DEMO,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        shown: Any = {}
        while time.monotonic() < deadline:
            shown = c.os_json("server", "show", "bfv-q", cloud=DEMO)
            if shown["status"] == "ERROR":
                break
            time.sleep(0.5)
        assert shown["status"] == "ERROR", shown
        assert "Maximum number of volumes allowed" in shown["fault"]["message"], shown
    finally:
        c.os("quota", "set", "--volumes", "10", project)
    c.os("server", "delete", "--wait", "bfv-q", cloud=DEMO)
