"""Block Storage with the real ``openstack`` CLI against ``stockyard up``: volumes,
snapshots, types and quotas on the file backend."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.conftest import RunningCloud


def _wait(c: RunningCloud, kind: list[str], name: str, status: str, cloud: str) -> Any:
    deadline = time.monotonic() + 60
    shown: Any = None
    while time.monotonic() < deadline:
        shown = c.os_json(*kind, "show", name, cloud=cloud)
        if shown["status"] == status:
            return shown
        time.sleep(0.5)
    raise AssertionError(f"{kind} {name} never {status}: {shown}\n{c.log_tail()}")


def _gone(c: RunningCloud, kind: list[str], name: str, cloud: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if c.os(*kind, "show", name, cloud=cloud, check=False).returncode != 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{kind} {name} never went away\n{c.log_tail()}")


def test_volume_lifecycle(running_cloud: RunningCloud) -> None:
    c, demo = running_cloud, "stockyard"
    created = c.os_json(
        "volume", "create", "--size", "1", "--property", "a=b", "cli-v1", cloud=demo
    )
    assert created["status"] == "creating" and created["type"] == "__DEFAULT__"
    _wait(c, ["volume"], "cli-v1", "available", demo)
    rows = c.os_json("volume", "list", cloud=demo)
    assert [(r["Name"], r["Status"], r["Size"]) for r in rows] == [("cli-v1", "available", 1)]
    c.os("volume", "set", "--name", "cli-v2", "--description", "d", "--size", "2", "cli-v1",
         cloud=demo)  # fmt: skip
    shown = _wait(c, ["volume"], "cli-v2", "available", demo)
    assert shown["size"] == 2 and shown["description"] == "d"
    assert shown["properties"] == {"a": "b"}
    # The admin's own list does not show the member's volume; --all-projects does.
    assert all(r["Name"] != "cli-v2" for r in c.os_json("volume", "list"))
    assert any(r["Name"] == "cli-v2" for r in c.os_json("volume", "list", "--all-projects"))

    snap = c.os_json("volume", "snapshot", "create", "--volume", "cli-v2", "cli-s1", cloud=demo)
    assert snap["status"] == "creating"
    _wait(c, ["volume", "snapshot"], "cli-s1", "available", demo)
    assert [r["Name"] for r in c.os_json("volume", "snapshot", "list", cloud=demo)] == ["cli-s1"]
    refused = c.os("volume", "delete", "cli-v2", cloud=demo, check=False)
    assert refused.returncode != 0 and "have snapshots" in refused.stderr
    c.os("volume", "snapshot", "delete", "cli-s1", cloud=demo)
    _gone(c, ["volume", "snapshot"], "cli-s1", demo)
    c.os("volume", "delete", "cli-v2", cloud=demo)
    _gone(c, ["volume"], "cli-v2", demo)


def test_types_and_quota_exceeded(running_cloud: RunningCloud) -> None:
    c, demo = running_cloud, "stockyard"
    c.os("volume", "type", "create", "--property", "volume_backend_name=file", "cli-gold")
    names = [r["Name"] for r in c.os_json("volume", "type", "list", cloud=demo)]
    assert "cli-gold" in names and "__DEFAULT__" in names
    vol = c.os_json("volume", "create", "--size", "1", "--type", "cli-gold", "cli-q1", cloud=demo)
    assert vol["type"] == "cli-gold"
    project = c.os_json("token", "issue", cloud=demo)["project_id"]
    c.os("quota", "set", "--volumes", "1", project)
    over = c.os("volume", "create", "--size", "1", "cli-q2", cloud=demo, check=False)
    assert over.returncode != 0
    assert "Maximum number of volumes allowed (1) exceeded for quota 'volumes'." in over.stderr
    c.os("quota", "set", "--volumes", "10", project)
    _wait(c, ["volume"], "cli-q1", "available", demo)
    c.os("volume", "delete", "cli-q1", cloud=demo)
    _gone(c, ["volume"], "cli-q1", demo)


def _server(c: RunningCloud, tmp_name: str, demo: str, *props: str) -> dict[str, Any]:
    return dict(
        c.os_json(
            "server",
            "create",
            "--flavor",
            "m1.tiny",
            "--image",
            "stockyard-default",
            "--no-network",
            *props,
            "--wait",
            tmp_name,
            cloud=demo,
        )
    )


def test_server_add_and_remove_volume(running_cloud: RunningCloud) -> None:
    c, demo = running_cloud, "stockyard"
    server = _server(c, "vol-vm", demo)
    assert server["status"] == "ACTIVE"
    c.os_json("volume", "create", "--size", "1", "cli-att", cloud=demo)
    _wait(c, ["volume"], "cli-att", "available", demo)

    c.os("server", "add", "volume", "--device", "/dev/vdb", "vol-vm", "cli-att", cloud=demo)
    shown = _wait(c, ["volume"], "cli-att", "in-use", demo)
    assert [(a["server_id"], a["device"]) for a in shown["attachments"]] == [
        (server["id"], "/dev/vdb")
    ]
    listed = c.os_json("server", "volume", "list", "vol-vm", cloud=demo)
    assert [(r["Device"], r["Volume ID"]) for r in listed] == [("/dev/vdb", shown["id"])]
    srv = c.os_json("server", "show", "vol-vm", cloud=demo)
    assert [v["id"] for v in srv["volumes_attached"]] == [shown["id"]]
    again = c.os("server", "add", "volume", "vol-vm", "cli-att", cloud=demo, check=False)
    assert again.returncode != 0 and "already attached" in again.stderr
    busy = c.os("volume", "delete", "cli-att", cloud=demo, check=False)
    assert busy.returncode != 0
    actions = c.os_json("server", "event", "list", "vol-vm", cloud=demo)
    assert "attach_volume" in [a["Action"] for a in actions]

    c.os("server", "remove", "volume", "vol-vm", "cli-att", cloud=demo)
    shown = _wait(c, ["volume"], "cli-att", "available", demo)
    assert shown["attachments"] == []
    assert c.os_json("server", "show", "vol-vm", cloud=demo)["volumes_attached"] == []

    # A guest that never releases the device: the detach fails readably and the volume
    # is in-use again, not stuck in detaching.
    c.os("server", "add", "volume", "vol-vm", "cli-att", cloud=demo)
    _wait(c, ["volume"], "cli-att", "in-use", demo)
    c.os("server", "set", "--property", "fake:stuck_detach=true", "vol-vm", cloud=demo)
    c.os("server", "remove", "volume", "vol-vm", "cli-att", cloud=demo)
    deadline = time.monotonic() + 60
    events: list[Any] = []
    while time.monotonic() < deadline:
        actions = c.os_json("server", "event", "list", "vol-vm", cloud=demo)
        detach = [a for a in actions if a["Action"] == "detach_volume"]
        shown = c.os_json("volume", "show", "cli-att", cloud=demo)
        if detach and shown["status"] == "in-use":
            req = detach[0]["Request ID"]
            # The admin reads the failed step's traceback (members see details, 2.84).
            events = c.os_json("server", "event", "show", server["id"], req)["events"]
            break
        time.sleep(0.5)
    assert shown["status"] == "in-use", shown
    assert events and events[0]["result"] == "Error", events
    assert "did not release volume" in events[0]["traceback"]
    c.os("server", "unset", "--property", "fake:stuck_detach", "vol-vm", cloud=demo)
    c.os("server", "remove", "volume", "vol-vm", "cli-att", cloud=demo)
    _wait(c, ["volume"], "cli-att", "available", demo)

    # delete_on_termination: deleting the server deletes the volume.
    c.os(
        "--os-compute-api-version", "2.79", "server", "add", "volume",
        "--enable-delete-on-termination", "vol-vm", "cli-att", cloud=demo,
    )  # fmt: skip
    _wait(c, ["volume"], "cli-att", "in-use", demo)
    c.os("server", "delete", "--wait", "vol-vm", cloud=demo)
    _gone(c, ["volume"], "cli-att", demo)
