"""Node routes: enroll, list, show, delete, manage, power and boot device."""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import APIRouter, Query, Response
from sqlalchemy import delete, select

from stockyard.db.base import execute_count
from stockyard.hwmgr.api.deps import ServiceAuth, SessionDep, StateDep
from stockyard.hwmgr.api.errors import HwmgrError
from stockyard.hwmgr.api.schemas import (
    BootDevice,
    NodeCreate,
    NodeList,
    NodePatch,
    NodeView,
    PowerChange,
    PowerView,
)
from stockyard.hwmgr.api.state import HwmgrState
from stockyard.hwmgr.api.views import node_view
from stockyard.hwmgr.bmcport import BMCLike, close_bmc, error_text, target_of
from stockyard.hwmgr.db.locks import NodeLocked, node_lock, try_lock, unlock
from stockyard.hwmgr.db.models import Node
from stockyard.hwmgr.tasks import states as st

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/nodes", tags=["nodes"], dependencies=[ServiceAuth])
T = TypeVar("T")


async def load_node(session: SessionDep, node_uuid: str) -> Node:
    node = await session.get(Node, node_uuid)
    if node is None:
        raise _not_found(node_uuid)
    return node


def _not_found(node_uuid: str) -> HwmgrError:
    return HwmgrError(404, f"node {node_uuid} not found")


async def with_bmc(
    session: SessionDep, state: HwmgrState, node: Node, action: Callable[[BMCLike], Awaitable[T]]
) -> T:
    """Run ``action`` on the node's BMC under the node lock; BMC errors become 502."""
    if node.provision_state not in st.NODE_IDLE:
        raise HwmgrError(409, f"node {node.uuid} is {node.provision_state}: a task owns it")
    # Give the connection back during the BMC call: the lock needs one of its own, and a
    # pool full of requests each waiting for a second connection would deadlock.
    await session.commit()
    target = target_of(node, state.box)
    owner = f"{state.host_id}:api:{uuidlib.uuid4().hex}"
    try:
        async with node_lock(state.db, node.uuid, owner, state.settings.lock_lease_seconds):
            bmc = state.bmc_factory(target)
            try:
                return await action(bmc)
            finally:
                await close_bmc(bmc)
    except NodeLocked as exc:
        raise HwmgrError(409, str(exc)) from exc
    except HwmgrError:
        raise
    except Exception as exc:
        raise HwmgrError(502, f"BMC of node {node.uuid}: {error_text(exc)}") from exc


@router.post("", status_code=201, response_model=NodeView)
async def enroll(body: NodeCreate, session: SessionDep, state: StateDep) -> NodeView:
    """Enroll a node (provision_state ``enrolled``); the BMC password is stored encrypted."""
    if await session.scalar(select(Node.uuid).where(Node.name == body.name)) is not None:
        raise HwmgrError(409, f"name: a node named {body.name!r} already exists")
    node = Node(
        name=body.name,
        region=body.region,
        az=body.az,
        rack=body.rack,
        resource_class=body.resource_class,
        cpus=body.cpus,
        memory_mb=body.memory_mb,
        disk_gb=body.disk_gb,
        macs=body.macs,
        bmc_driver=body.bmc.driver,
        bmc_address=body.bmc.address,
        bmc_port=body.bmc.port,
        bmc_system_id=body.bmc.system_id,
        bmc_username=body.bmc.username,
        bmc_password_encrypted=state.box.encrypt(body.bmc.password.get_secret_value()),
        provision_state=st.ENROLLED,
    )
    session.add(node)
    await session.commit()
    log.info("enrolled node %s (%s) in %s/%s", node.uuid, node.name, node.az, node.rack)
    return node_view(node)


@router.get("", response_model=NodeList)
async def list_nodes(
    session: SessionDep,
    region: str | None = Query(default=None),
    az: str | None = Query(default=None),
    rack: str | None = Query(default=None),
    resource_class: str | None = Query(default=None),
    provision_state: str | None = Query(default=None),
) -> NodeList:
    if provision_state is not None and provision_state not in st.NODE_STATES:
        raise HwmgrError(400, f"provision_state: unknown state {provision_state!r}")
    query = select(Node).order_by(Node.name)
    for column, value in (
        (Node.region, region),
        (Node.az, az),
        (Node.rack, rack),
        (Node.resource_class, resource_class),
        (Node.provision_state, provision_state),
    ):
        if value is not None:
            query = query.where(column == value)
    return NodeList(nodes=[node_view(n) for n in (await session.scalars(query)).all()])


@router.get("/{node_uuid}", response_model=NodeView)
async def show_node(node_uuid: str, session: SessionDep) -> NodeView:
    return node_view(await load_node(session, node_uuid))


@router.patch("/{node_uuid}", response_model=NodeView)
async def update_bmc(
    node_uuid: str, body: NodePatch, session: SessionDep, state: StateDep
) -> NodeView:
    """Change the node's BMC details (address, port, credentials, driver, system id).

    The password is stored encrypted and never returned. While a task owns the node the
    change is made under the node lock, between its BMC steps (as Ironic takes driver
    info outside its lock): the task's next step uses the new details, and a step in
    progress gets a 409. The BMC is not contacted; ``manage`` (or the next task's
    step) checks the new details.
    """
    node = await load_node(session, node_uuid)
    if node.provision_state in st.NODE_IDLE:
        return await _change_bmc(session, state, node, body)
    owner = f"{state.host_id}:api:{uuidlib.uuid4().hex}"
    if not await try_lock(state.db, node.uuid, owner, state.settings.lock_lease_seconds):
        raise HwmgrError(
            409, f"node {node_uuid} is {node.provision_state}: a BMC step is in progress"
        )
    try:
        return await _change_bmc(session, state, node, body)
    finally:
        await unlock(state.db, node.uuid, owner)


async def _change_bmc(
    session: SessionDep, state: HwmgrState, node: Node, body: NodePatch
) -> NodeView:
    new = body.bmc
    fields = new.model_fields_set
    driver = new.driver if "driver" in fields and new.driver else node.bmc_driver
    system_id = new.system_id if "system_id" in fields else node.bmc_system_id
    if driver == "redfish" and not system_id:
        raise HwmgrError(400, "bmc.system_id: required for the redfish driver")
    node.bmc_driver = driver
    node.bmc_system_id = system_id
    if new.address is not None:
        node.bmc_address = new.address
    if new.port is not None:
        node.bmc_port = new.port
    if new.username is not None:
        node.bmc_username = new.username
    if new.password is not None:
        node.bmc_password_encrypted = state.box.encrypt(new.password.get_secret_value())
    await session.commit()
    log.info("node %s: BMC details changed (%s)", node.uuid, ", ".join(sorted(fields)))
    return node_view(node)


@router.delete("/{node_uuid}", status_code=204)
async def delete_node(node_uuid: str, session: SessionDep) -> Response:
    node = await load_node(session, node_uuid)
    if node.provision_state not in st.NODE_DELETABLE:
        raise HwmgrError(409, f"node {node_uuid} is {node.provision_state}; release it first")
    # By key, not session.delete: of two deletes at once, the one that finds the row gone
    # answers 404 (not 204 over a DELETE that matched nothing).
    session.expunge(node)
    stmt = delete(Node).where(Node.uuid == node.uuid).execution_options(synchronize_session=False)
    if not await execute_count(session, stmt):
        raise _not_found(node_uuid)
    await session.commit()
    return Response(status_code=204)


@router.post("/{node_uuid}/manage", response_model=NodeView)
async def manage(node_uuid: str, session: SessionDep, state: StateDep) -> NodeView:
    """enrolled (or error) -> available once the BMC answers a power-state query."""
    node = await load_node(session, node_uuid)
    target = st.NODE.next(node.provision_state, "manage") if _can(node, "manage") else None
    if target is None:
        raise HwmgrError(409, f"node {node_uuid} is {node.provision_state}; cannot manage")

    async def query(bmc: BMCLike) -> str:
        return await bmc.power_state()

    try:
        power = await with_bmc(session, state, node, query)
    except HwmgrError as exc:
        if exc.status == 502:
            node.last_error = exc.message
            await session.commit()
        raise
    node.power_state = power
    node.provision_state = target
    node.last_error = None
    await session.commit()
    return node_view(node)


def _can(node: Node, event: str) -> bool:
    return (node.provision_state, event) in st.NODE.transitions


@router.get("/{node_uuid}/power", response_model=PowerView)
async def get_power(node_uuid: str, session: SessionDep, state: StateDep) -> PowerView:
    node = await load_node(session, node_uuid)

    async def query(bmc: BMCLike) -> str:
        return await bmc.power_state()

    power = await with_bmc(session, state, node, query)
    node.power_state = power
    await session.commit()
    return PowerView(power_state="on" if power == "on" else "off")


@router.put("/{node_uuid}/power", response_model=PowerView)
async def set_power(
    node_uuid: str, body: PowerChange, session: SessionDep, state: StateDep
) -> PowerView:
    """Power on/off/cycle and wait until the BMC reports the resulting state."""
    node = await load_node(session, node_uuid)
    timeout = state.settings.power_timeout_seconds
    final = "off" if body.target == "off" else "on"

    async def act(bmc: BMCLike) -> None:
        if body.target == "cycle":
            await bmc.power_cycle()
        elif body.target == "on":
            await bmc.power_on()
        else:
            await bmc.power_off()
        await bmc.wait_power(final, timeout)

    await with_bmc(session, state, node, act)
    node.power_state = final
    await session.commit()
    return PowerView(power_state="on" if final == "on" else "off")


@router.put("/{node_uuid}/boot_device", status_code=204)
async def set_boot_device(
    node_uuid: str, body: BootDevice, session: SessionDep, state: StateDep
) -> Response:
    """One-time network boot (the only device the BMC contract offers)."""
    node = await load_node(session, node_uuid)

    async def act(bmc: BMCLike) -> None:
        await bmc.set_boot_pxe_once()

    await with_bmc(session, state, node, act)
    return Response(status_code=204)
