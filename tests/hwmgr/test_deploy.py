"""Deploy to done over real HTTP, installer failure, silence and BMC errors."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from stockyard.hwmgr.db.models import Node
from tests.hwmgr.conftest import Lab


async def test_deploy_reaches_done_and_node_active(any_lab: Lab) -> None:
    lab = any_lab
    node = await lab.available("n1")
    task = await lab.deploy(node["uuid"])
    assert task["state"] in {"queued", "powering_off"} and task["type"] == "install"
    assert "token" not in str(task).lower()

    done = await lab.wait_task(task["uuid"])
    assert done["state"] == "done", done
    after = await lab.node(node["uuid"])
    assert after["provision_state"] == "active"
    assert after["power_state"] == "on"
    if lab.redfish is None:
        machine = lab.fleet.machine("127.0.0.1", 8000, "n1")
        # Booted the installer over the network, then its own disk.
        assert machine.boots == ["pxe", "disk"]
    assert lab.installer.booted == [node["uuid"]]
    # The image went through hwmgr's cache, named by its checksum.
    assert lab.service.state is not None
    assert lab.service.state.images.has(lab.image.checksum)


async def test_boot_script_only_while_installing(any_lab: Lab) -> None:
    lab = any_lab
    node = await lab.available("n1")
    r = await lab.client.get(f"/v1/boot/{node['uuid']}.ipxe")
    assert r.status_code == 404
    lab.installer.never_call_back = True
    task = await lab.deploy(node["uuid"])
    await lab.wait_task(task["uuid"], {"installing"})
    r = await lab.client.get(f"/v1/boot/{node['uuid']}.ipxe")
    assert r.status_code == 200
    assert r.text.startswith("#!ipxe")
    assert f"stockyard.task={task['uuid']}" in r.text
    assert "stockyard.token=" in r.text
    # The token works for the call-back, a wrong one does not.
    token = r.text.split("stockyard.token=")[1].split()[0]
    url = f"/v1/tasks/{task['uuid']}/callback"
    bad = await lab.client.post(
        url, json={"status": "success"}, headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthorized"
    ok = await lab.client.post(
        url, json={"status": "success"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 204
    assert (await lab.wait_task(task["uuid"]))["state"] == "done"
    again = await lab.client.post(
        url, json={"status": "success"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert again.status_code == 409


async def test_installer_failure_fails_task_with_message(any_lab: Lab) -> None:
    lab = any_lab
    node = await lab.available("n1")
    lab.installer.fail = True
    task = await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"])
    assert task["state"] == "failed"
    assert "disk write error" in task["last_error"]
    after = await lab.node(node["uuid"])
    assert after["provision_state"] == "error"
    assert "disk write error" in after["last_error"]


async def test_installer_silence_fails_by_deadline(any_lab: Lab) -> None:
    lab = any_lab
    assert lab.service.state is not None
    lab.service.state.runner.deadline_seconds = 0.5
    node = await lab.available("n1")
    lab.installer.never_call_back = True
    task = await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"])
    assert task["state"] == "failed"
    assert task["last_error"] == "installer did not call back within 0.5 s"
    assert (await lab.node(node["uuid"]))["provision_state"] == "error"


async def test_bmc_error_fails_task_with_bmc_text(lab: Lab) -> None:
    node = await lab.available("n1")
    lab.fleet.machine("127.0.0.1", 8000, "n1").error = "Redfish 503: BMC busy"
    task = await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"])
    assert task["state"] == "failed"
    assert "Redfish 503: BMC busy" in task["last_error"]
    after = await lab.node(node["uuid"])
    assert after["provision_state"] == "error"
    assert "Redfish 503: BMC busy" in after["last_error"]


async def test_bad_image_checksum_fails_task(lab: Lab) -> None:
    node = await lab.available("n1")
    r = await lab.client.post(
        f"/v1/nodes/{node['uuid']}/deploy",
        json={"image_url": lab.image.url, "image_checksum": "sha256:" + "0" * 64},
    )
    assert r.status_code == 202
    task = await lab.wait_task(r.json()["uuid"])
    assert task["state"] == "failed"
    assert "checksum mismatch" in task["last_error"]


async def test_fifty_concurrent_deploys(any_lab: Lab) -> None:
    lab = any_lab
    nodes = [await lab.available(f"n{i:02d}", mac=f"52:54:00:00:01:{i:02x}") for i in range(50)]
    tasks = [await lab.deploy(n["uuid"]) for n in nodes]
    finished = [await lab.wait_task(t["uuid"], timeout=120) for t in tasks]
    assert [t["state"] for t in finished] == ["done"] * 50
    r = await lab.client.get("/v1/nodes", params={"provision_state": "active"})
    assert len(r.json()["nodes"]) == 50
    # hwmgr fetched the image once for all fifty; the installers got it from hwmgr.
    assert lab.image.hits == ["/debian.img"]


async def test_release_cleans_to_available(any_lab: Lab) -> None:
    lab = any_lab
    node = await lab.available("n1")
    await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"])
    r = await lab.client.post(f"/v1/nodes/{node['uuid']}/release")
    assert r.status_code == 202, r.text
    clean = r.json()
    assert clean["type"] == "clean"
    assert (await lab.wait_task(clean["uuid"]))["state"] == "done"
    after = await lab.node(node["uuid"])
    assert after["provision_state"] == "available"
    assert after["power_state"] == "off"
    if lab.redfish is None:
        machine = lab.fleet.machine("127.0.0.1", 8000, "n1")
        assert machine.boots == ["pxe", "disk", "pxe"]  # the wipe ran from the network
    r = await lab.client.get("/v1/tasks", params={"node": node["uuid"]})
    assert [t["type"] for t in r.json()["tasks"]] == ["install", "clean"]
    # Available again: it can be deployed once more.
    again = await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"])
    assert again["state"] == "done"


async def test_release_from_error_cleans(any_lab: Lab) -> None:
    lab = any_lab
    node = await lab.available("n1")
    lab.installer.fail = True
    await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"])
    lab.installer.fail = False
    r = await lab.client.post(f"/v1/nodes/{node['uuid']}/release")
    assert r.status_code == 202
    assert (await lab.wait_task(r.json()["uuid"]))["state"] == "done"
    after = await lab.node(node["uuid"])
    assert after["provision_state"] == "available" and after["last_error"] is None


async def _reservation(lab: Lab, node_uuid: str) -> str | None:
    assert lab.service.state is not None
    async with lab.service.state.db.session() as s:
        return await s.scalar(select(Node.reservation).where(Node.uuid == node_uuid))


async def test_node_lock_held_through_bmc_steps_and_given_back(lab: Lab) -> None:
    """The runner keeps the node lock from its first BMC step to the install wait (one
    take, not one per step), gives it back while the installer runs, and at the end."""
    node = await lab.available("n1")
    machine = lab.fleet.machine("127.0.0.1", 8000, "n1")
    machine.pxe_gate = asyncio.Event()
    lab.installer.never_call_back = True
    task = await lab.deploy(node["uuid"])
    await lab.wait_task(task["uuid"], {"setting_pxe"})
    # Powered off already, PXE being set: still the runner's, as for the whole BMC phase.
    assert await _reservation(lab, node["uuid"]) == "test-host:runner"
    r = await lab.client.get(f"/v1/nodes/{node['uuid']}/power")
    assert r.status_code == 409  # a task owns the node
    machine.pxe_gate.set()
    await lab.wait_task(task["uuid"], {"installing"})
    assert await _reservation(lab, node["uuid"]) is None
    assert (await lab.node(node["uuid"]))["power_state"] == "on"


async def test_node_lock_given_back_when_a_bmc_step_fails(lab: Lab) -> None:
    node = await lab.available("n1")
    lab.fleet.machine("127.0.0.1", 8000, "n1").error = "Redfish 503: BMC busy"
    task = await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"])
    assert task["state"] == "failed"
    for _ in range(50):  # the runner gives it back right after the task's last commit
        if await _reservation(lab, node["uuid"]) is None:
            break
        await asyncio.sleep(0.05)
    assert await _reservation(lab, node["uuid"]) is None
    # Nothing is left holding the node: a clean can take it.
    lab.fleet.machine("127.0.0.1", 8000, "n1").error = None
    r = await lab.client.post(f"/v1/nodes/{node['uuid']}/release")
    assert r.status_code == 202, r.text
    assert (await lab.wait_task(r.json()["uuid"]))["state"] == "done"
