"""Helpers of the ``os-interface`` tests: a running server (placed, ports bound) and the
conductor's interface flow answered by hand, as an agent would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stockyard.bus import contract
from stockyard.conductor.interfaces import InterfaceFlow
from stockyard.db.models import Instance, InstanceAction, InstanceActionEvent, Port
from stockyard.network import server_ports
from stockyard.placement.context import FlowContext
from stockyard.scheduler import HostStateIndex, Scheduler, SchedulerConfig
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create
from tests.servers_api.conftest import Seed, server_body

SERVERS = "/compute/v2.1/servers"


def iface_url(server: str, port: str | None = None) -> str:
    return f"{SERVERS}/{server}/os-interface" + (f"/{port}" if port else "")


def error(resp: Any, status: int) -> str:
    assert resp.status_code == status, resp.text
    (body,) = resp.json().values()
    assert body["code"] == status
    message: str = body["message"]
    return message


async def network(cloud: Cloud, name: str, cidr: str) -> str:
    net = await create(cloud, "network", cloud.demo, name=name)
    await create(cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr=cidr)
    return str(net["id"])


async def running_server(cloud: Cloud, seed: Seed, networks: Any = "auto") -> str:
    """A server as the conductor leaves it: ACTIVE on host h0 with its ports bound."""
    h = cloud.headers(cloud.demo_token, "2.79")
    resp = await cloud.client.post(SERVERS, json=server_body(seed, networks=networks), headers=h)
    assert resp.status_code == 202, resp.text
    uuid = str(resp.json()["server"]["id"])
    async with cloud.state.db.session() as s:
        inst = await s.scalar(select(Instance).where(Instance.uuid == uuid))
        assert inst is not None
        inst.host, inst.node, inst.region, inst.availability_zone = "h0", "h0", "RegionOne", "az1"
        await server_ports.bind(s, inst, host="h0", region="RegionOne", az="az1")
        inst.vm_state, inst.task_state = "active", None
    return uuid


def flow(cloud: Cloud) -> InterfaceFlow:
    st = cloud.state
    scheduler = Scheduler(HostStateIndex(), SchedulerConfig())
    return InterfaceFlow(
        FlowContext(db=st.db, bus=st.bus, settings=st.settings, scheduler=scheduler)
    )


async def port_row(cloud: Cloud, port_id: str) -> Port | None:
    async with cloud.state.db.session() as s:
        return await s.get(Port, port_id)


async def answer(cloud: Cloud, port_id: str, ok: bool, error: str = "") -> None:
    """Drive the port's op and answer it as the host's agent would."""
    f = flow(cloud)
    port = await port_row(cloud, port_id)
    assert port is not None
    await f.handle_instance(port.device_id)
    port = await port_row(cloud, port_id)
    assert port is not None and port.iface_lease_owner, "the op was sent"
    _, op, op_id = port.iface_lease_owner.split(":", 2)
    result = contract.OpResult(
        instance_uuid=port.device_id, op=op, op_id=op_id, ok=ok, error=error or None, host="h0"
    )  # type: ignore[arg-type]
    await f.on_result(result)


async def events(cloud: Cloud, uuid: str) -> list[tuple[str, str, str, str]]:
    """``(action, event, result, traceback)`` of the server, oldest first."""
    async with cloud.state.db.session() as s:
        rows = await s.execute(
            select(InstanceAction.action, InstanceActionEvent)
            .join(InstanceActionEvent, InstanceActionEvent.action_id == InstanceAction.id)
            .where(InstanceAction.instance_uuid == uuid)
            .order_by(InstanceActionEvent.id)
        )
        return [(a, e.event, e.result or "", e.traceback or "") for a, e in rows]


async def neutron_port(cloud: Cloud, port_id: str) -> dict[str, Any]:
    resp = await cloud.client.get(f"{V2}/ports/{port_id}", headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()["port"]
    return body


async def addresses(cloud: Cloud, uuid: str) -> dict[str, Any]:
    resp = await cloud.client.get(f"{SERVERS}/{uuid}", headers=cloud.demo)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()["server"]["addresses"]
    return body
