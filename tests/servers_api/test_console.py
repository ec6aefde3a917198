"""``os-getConsoleOutput`` (``openstack console log show``): the API asks the agent of the
server's host over the bus and answers with what the host's driver read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from stockyard.api.compute.console import ConsoleReplies
from stockyard.bus.contract import ConsoleRequest
from stockyard.bus.memory import MemoryBus
from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import ComputeDriver, InstanceSpec
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.db.models import Instance
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body

MV = "2.79"


class NoConsoleDriver(FakeDriver):
    """A driver that, like the baremetal one, has no console log."""

    get_console_output = ComputeDriver.get_console_output


@pytest.fixture
async def agents(cloud: Cloud) -> AsyncIterator[dict[str, ComputeAgent]]:
    """Agents for hosts h0 (fake driver, with console) and h1 (no console); h2 has none."""
    started = {
        "h0": ComputeAgent("h0", FakeDriver("h0"), cloud.state.bus),
        "h1": ComputeAgent("h1", NoConsoleDriver("h1"), cloud.state.bus),
    }
    for agent in started.values():
        await agent.subscribe()
    yield started
    for agent in started.values():
        await agent.stop()


async def _server_on(cloud: Cloud, seed: Seed, host: str | None, token: str) -> str:
    h = cloud.headers(token, MV)
    r = await cloud.client.post("/compute/v2.1/servers", json=server_body(seed), headers=h)
    assert r.status_code == 202, r.text
    sid = str(r.json()["server"]["id"])
    if host is not None:
        async with cloud.state.db.session() as session:
            await session.execute(
                update(Instance)
                .where(Instance.uuid == sid)
                .values(host=host, node=host, vm_state="active", task_state=None)
            )
    return sid


async def _console(cloud: Cloud, sid: str, token: str, body: Any = None) -> Any:
    return await cloud.client.post(
        f"/compute/v2.1/servers/{sid}/action",
        json={"os-getConsoleOutput": body if body is not None else {}},
        headers=cloud.headers(token, MV),
    )


async def test_console_output_comes_from_the_hosts_driver(
    cloud: Cloud, seed: Seed, agents: dict[str, ComputeAgent]
) -> None:
    sid = await _server_on(cloud, seed, "h0", cloud.demo_token)
    await agents["h0"].driver.spawn(InstanceSpec(uuid=sid, hostname="vm", image_ref="img"))
    r = await _console(cloud, sid, cloud.demo_token)
    assert r.status_code == 200, r.text
    output = r.json()["output"]
    # A whole boot log, as a guest prints it, ending with the emulator's marker line.
    assert "Linux version" in output and output.count("\n") > 10
    assert output.endswith("vm booted (boot #1)")
    last = await _console(cloud, sid, cloud.demo_token, {"length": "1"})
    assert last.json()["output"] == output.splitlines()[-1]
    # Nova's tail, which Tempest counts with split("\n"): exactly ``length`` lines.
    three = await _console(cloud, sid, cloud.demo_token, {"length": 3})
    assert len(three.json()["output"].split("\n")) == 3
    none = await _console(cloud, sid, cloud.demo_token, {"length": 0})
    assert none.json()["output"] == ""
    everything = await _console(cloud, sid, cloud.demo_token, {"length": -1})
    assert everything.json()["output"] == output


async def test_console_errors(cloud: Cloud, seed: Seed, agents: dict[str, ComputeAgent]) -> None:
    cloud.state.settings.console_timeout_seconds = 0.5
    no_host = await _server_on(cloud, seed, None, cloud.demo_token)
    r = await _console(cloud, no_host, cloud.demo_token)
    assert r.status_code == 409
    assert "has no host" in r.json()["conflictingRequest"]["message"]

    admins = await _server_on(cloud, seed, "h0", cloud.admin_token)
    r = await _console(cloud, admins, cloud.demo_token)
    assert r.status_code == 404
    assert "could not be found" in r.json()["itemNotFound"]["message"]
    # The guest is not on its host (never spawned there): 404 too, with the host's words.
    r = await _console(cloud, admins, cloud.admin_token)
    assert r.status_code == 404 and "could not be found on host h0" in r.text

    no_console = await _server_on(cloud, seed, "h1", cloud.demo_token)
    r = await _console(cloud, no_console, cloud.demo_token)
    assert r.status_code == 501
    assert "has no console log" in r.json()["notImplemented"]["message"]

    silent = await _server_on(cloud, seed, "h2", cloud.demo_token)
    r = await _console(cloud, silent, cloud.demo_token)
    assert r.status_code == 503
    assert "did not return the console" in r.json()["serviceUnavailable"]["message"]

    r = await _console(cloud, no_console, cloud.demo_token, {"length": "many"})
    assert r.status_code == 400 and "length" in r.json()["badRequest"]["message"]


async def test_a_late_reply_is_dropped_and_the_next_request_answered() -> None:
    bus = MemoryBus()
    replies = ConsoleReplies(bus)
    driver = FakeDriver("h0")
    spec = InstanceSpec(uuid="u1", hostname="vm", image_ref="img")
    await driver.spawn(spec)
    request = ConsoleRequest(instance=spec, length=1, reply_to="-")
    try:
        # Nobody serves compute.h0 yet: the request times out.
        assert await replies.ask("h0", request, 0.2) is None
        agent = ComputeAgent("h0", driver, bus)
        await agent.subscribe()
        # The agent now answers the stale request first, then this one: only this one
        # is taken as the answer.
        reply = await replies.ask("h0", request, 5)
        assert reply is not None and reply.ok and reply.output.endswith("booted (boot #1)")
        await agent.stop()
    finally:
        await bus.close()
