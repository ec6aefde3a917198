"""hwmgr against real BMC protocol endpoints: sushy-tools Redfish and a pyghmi IPMI server.

Every power and boot call crosses a real socket through ``stockyard.hwmgr.bmc``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from stockyard.hwmgr.bmcport import default_bmc_factory
from stockyard.hwmgr.installer_emulator import InstallerEmulator
from stockyard.hwmgr.service import HwmgrService
from tests.hwmgr.conftest import ImageServer, Lab, make_settings, node_body, stop_lab
from tests.hwmgr.fakes import FakeFleet

bmc = pytest.importorskip("stockyard.hwmgr.bmc", reason="BMC layer not in the tree yet")
if not hasattr(bmc, "make_bmc"):
    pytest.skip("stockyard.hwmgr.bmc.make_bmc not available yet", allow_module_level=True)
from stockyard.hwmgr.emulators.ipmi import IpmiNodeSpec  # noqa: E402

try:
    from stockyard.hwmgr.emulators.ipmi_emulator import IpmiEmulator
except ImportError:  # the emulator's module layout is still settling
    from stockyard.hwmgr.emulators.ipmi import IpmiEmulator  # type: ignore[attr-defined,no-redef]
from stockyard.hwmgr.emulators.redfish import RedfishEmulator, SystemSpec  # noqa: E402


@pytest.fixture
async def real_lab(tmp_path: Path, image_server: ImageServer) -> AsyncIterator[Lab]:
    installer = InstallerEmulator("http://127.0.0.1:1")
    service = HwmgrService(
        make_settings(
            tmp_path / "hwmgr", Fernet.generate_key().decode(), power_timeout_seconds=30.0
        ),
        bmc_factory=default_bmc_factory,
        observers=[installer],
        host_id="test-host",
    )
    await service.start()
    installer.hwmgr_url = service.url
    import httpx

    from tests.hwmgr.conftest import TOKEN

    client = httpx.AsyncClient(base_url=service.url, headers={"X-Auth-Token": TOKEN}, timeout=90)
    lab = Lab(service, FakeFleet(), installer, client, image_server, "", tmp_path / "hwmgr")
    yield lab
    await stop_lab(lab)


async def _enroll_manage(lab: Lab, body: dict[str, Any]) -> dict[str, Any]:
    r = await lab.client.post("/v1/nodes", json=body)
    assert r.status_code == 201, r.text
    r = await lab.client.post(f"/v1/nodes/{r.json()['uuid']}/manage")
    assert r.status_code == 200, r.text
    node: dict[str, Any] = r.json()
    return node


async def test_deploy_and_clean_on_redfish_and_ipmi(real_lab: Lab) -> None:
    lab = real_lab
    systems = [SystemSpec(name="rf1"), SystemSpec(name="rf2")]
    ipmi_nodes = [IpmiNodeSpec(name="ip1"), IpmiNodeSpec(name="ip2")]
    async with RedfishEmulator(systems) as rf, IpmiEmulator(ipmi_nodes) as ipmi:
        nodes = []
        for i, spec in enumerate(systems):
            creds = {"username": rf.username, "password": rf.password.get_secret_value()}
            bmc_body = {"driver": "redfish", "address": rf.host, "port": rf.port}
            body = node_body(spec.name, f"52:54:00:00:03:0{i}", {**bmc_body, **creds})
            body["bmc"]["system_id"] = spec.uuid
            nodes.append(await _enroll_manage(lab, body))
        for i, ispec in enumerate(ipmi_nodes):
            bmc_body = {
                "driver": "ipmi",
                "address": "127.0.0.1",
                "port": ipmi.port(ispec.name),
                "username": ispec.username,
                "password": ispec.password.get_secret_value(),
            }
            nodes.append(
                await _enroll_manage(lab, node_body(ispec.name, f"52:54:00:00:04:0{i}", bmc_body))
            )
        tasks = [await lab.deploy(n["uuid"]) for n in nodes]
        for task in tasks:
            done = await lab.wait_task(task["uuid"], timeout=120)
            assert done["state"] == "done", done
        for n in nodes:
            after = await lab.node(n["uuid"])
            assert after["provision_state"] == "active" and after["power_state"] == "on"
            r = await lab.client.get(f"/v1/nodes/{n['uuid']}/power")
            assert r.json() == {"power_state": "on"}
        held = await ipmi.state("ip1")
        assert held["power"] == "on"
        released = await lab.client.post(f"/v1/nodes/{nodes[0]['uuid']}/release")
        assert (await lab.wait_task(released.json()["uuid"], timeout=120))["state"] == "done"
        assert (await lab.node(nodes[0]["uuid"]))["provision_state"] == "available"


async def test_unreachable_bmc_fails_task_with_bmc_message(real_lab: Lab) -> None:
    lab = real_lab
    spec = SystemSpec(name="gone")
    async with RedfishEmulator([spec]) as rf:
        body = node_body(
            "gone",
            "52:54:00:00:05:01",
            {
                "driver": "redfish",
                "address": rf.host,
                "port": rf.port,
                "system_id": spec.uuid,
                "username": rf.username,
                "password": rf.password.get_secret_value(),
            },
        )
        node = await _enroll_manage(lab, body)
    # The BMC went away after the node was managed.
    task = await lab.wait_task((await lab.deploy(node["uuid"]))["uuid"], timeout=120)
    assert task["state"] == "failed"
    assert task["last_error"]
    assert f"{rf.port}" in task["last_error"] or "redfish" in task["last_error"].lower()
    after = await lab.node(node["uuid"])
    assert after["provision_state"] == "error" and after["last_error"] == task["last_error"]
