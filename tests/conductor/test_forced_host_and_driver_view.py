"""Admin host forcing (``--availability-zone az:host``) and the driver's view of a guest
(``ssh_endpoint``, host-local addresses) reaching the server record."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stockyard.compute.agent import ComputeAgent
from stockyard.compute.drivers.base import InstanceSpec
from stockyard.compute.drivers.fake import FakeDriver
from stockyard.db.models import Instance, InstanceFault
from stockyard.lifecycle.records import forced_spec
from stockyard.network.provider import NETWORK_NAME
from tests.conductor.conftest import Lab


class EndpointDriver(FakeDriver):
    """A fake hypervisor that, like libvirt in user mode, forwards ssh from loopback."""

    async def get_instance_metadata(self, instance: InstanceSpec) -> dict[str, str]:
        self._guest(instance)
        return {"ssh_endpoint": "127.0.0.1:40022", "hypervisor_secret": "not for users"}

    async def get_addresses(self, instance: InstanceSpec) -> dict[str, list[dict[str, Any]]]:
        nic = {"addr": "10.0.2.15", "version": 4, "OS-EXT-IPS:type": "fixed"}
        return {"user": [nic], NETWORK_NAME: [{"addr": "6.6.6.6", "version": 4}]}


def test_forced_spec_reads_old_and_new_rows() -> None:
    assert forced_spec(None) is None and forced_spec("") is None
    assert forced_spec("az1:h1") == "az1:h1"
    assert forced_spec(":h1") == ":h1"
    # Rows written before the az:host form hold a bare host name: a host, not a zone.
    assert forced_spec("h1") == ":h1"


async def test_forced_host_wins_over_the_weighers(lab: Lab) -> None:
    await lab.add_hosts(1, vcpus=40)  # the emptiest host: what spread would pick
    small = await lab.add_hosts(1, vcpus=4)
    await lab.start()
    forced, legacy = await lab.create(2, forced_host=f"az1:{small[0]}", publish=False)
    async with lab.db.session() as s:
        row = (await s.execute(select(Instance).where(Instance.uuid == legacy))).scalar_one()
        row.forced_host = small[0]
    await lab.bus.publish("conductor", {"type": "build", "instance_uuids": [forced, legacy]})
    rows = await lab.settled([forced, legacy])
    assert [r.vm_state for r in rows] == ["active", "active"]
    assert [r.host for r in rows] == [small[0], small[0]]


async def test_failed_build_on_a_forced_host_is_not_rescheduled(lab: Lab) -> None:
    await lab.add_hosts(2)
    bad = await lab.add_hosts(1)
    lab.agent.fail_spawn_on = set(bad)
    await lab.start()
    (uuid,) = await lab.create(1, forced_host=f"az1:{bad[0]}")
    (row,) = await lab.settled([uuid])
    assert row.vm_state == "error" and row.attempts == 1 and row.host is None
    assert row.tried_hosts == bad
    async with lab.db.session() as s:
        (fault,) = (
            await s.execute(select(InstanceFault).where(InstanceFault.instance_uuid == uuid))
        ).scalars()
    assert f"spawn failed on {bad[0]}: emulated driver error" in fault.message
    assert sum(h.vcpus_used for h in await lab.host_rows()) == 0


async def test_spawn_and_rebuild_publish_the_drivers_view(lab: Lab) -> None:
    (host,) = await lab.add_hosts(1, serve=False)
    agent = ComputeAgent(host, EndpointDriver(host), lab.bus, report_interval=3600)
    await lab.start()
    await agent.subscribe()
    try:
        (uuid,) = await lab.create(1, metadata_={"owner": "team-a"})
        (row,) = await lab.settled([uuid])
        assert row.vm_state == "active"
        # Only the keys a driver may set; the user's metadata stays.
        assert row.metadata_ == {"owner": "team-a", "ssh_endpoint": "127.0.0.1:40022"}
        assert [a["addr"] for a in row.addresses["user"]] == ["10.0.2.15"]
        # The provider address is the conductor's allocation, never the driver's.
        (provider,) = row.addresses[NETWORK_NAME]
        assert provider["addr"] != "6.6.6.6" and provider["addr"].startswith("10.1.")

        # A rebuild may replace the user's metadata; the endpoint comes back with it.
        await lab.task(uuid, "rebuilding", metadata_={"owner": "team-b"})
        (row,) = await lab.settled([uuid])
        assert row.vm_state == "active"
        assert row.metadata_ == {"owner": "team-b", "ssh_endpoint": "127.0.0.1:40022"}
        assert row.addresses["user"][0]["addr"] == "10.0.2.15"
    finally:
        await agent.stop()
