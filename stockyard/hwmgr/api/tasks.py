"""Task routes: deploy, release, show and list tasks."""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Query
from sqlalchemy import CursorResult, select, update

from stockyard.db.base import utcnow
from stockyard.hwmgr.api.deps import ServiceAuth, SessionDep, StateDep
from stockyard.hwmgr.api.errors import HwmgrError
from stockyard.hwmgr.api.nodes import load_node
from stockyard.hwmgr.api.schemas import DeployRequest, TaskList, TaskView
from stockyard.hwmgr.api.state import HwmgrState
from stockyard.hwmgr.api.views import task_view
from stockyard.hwmgr.crypto import token_hash
from stockyard.hwmgr.db.models import Node, Task
from stockyard.hwmgr.tasks import states as st

log = logging.getLogger(__name__)
node_router = APIRouter(prefix="/v1/nodes", tags=["tasks"], dependencies=[ServiceAuth])
router = APIRouter(prefix="/v1/tasks", tags=["tasks"], dependencies=[ServiceAuth])


async def _start_task(
    session: SessionDep,
    state: HwmgrState,
    node_uuid: str,
    event: str,
    task_type: str,
    image_url: str | None = None,
    image_checksum: str | None = None,
) -> Task:
    """Move the node by ``event`` (conditional UPDATE: two racing calls, one wins) + task."""
    node = await load_node(session, node_uuid)
    source = node.provision_state
    if (source, event) not in st.NODE.transitions:
        raise HwmgrError(409, f"node {node_uuid} is {source}; {event} is not allowed")
    target = st.NODE.next(source, event)
    result = await session.execute(
        update(Node)
        .where(Node.uuid == node_uuid, Node.provision_state == source)
        .values(provision_state=target, last_error=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        await session.rollback()
        raise HwmgrError(409, f"node {node_uuid} changed state meanwhile; {event} refused")
    token = secrets.token_urlsafe(32)
    task = Task(
        node_uuid=node_uuid,
        type=task_type,
        state=st.QUEUED,
        image_url=image_url,
        image_checksum=image_checksum,
        callback_token_hash=token_hash(token),
        callback_token_encrypted=state.box.encrypt(token),
        attempts=0,
    )
    session.add(task)
    await session.commit()
    state.runner.submit(task.uuid)
    log.info("%s task %s queued on node %s", task_type, task.uuid, node_uuid)
    return task


@node_router.post("/{node_uuid}/deploy", status_code=202, response_model=TaskView)
async def deploy(
    node_uuid: str, body: DeployRequest, session: SessionDep, state: StateDep
) -> TaskView:
    """Install ``image_url`` on an available node; 202 with the task to follow."""
    task = await _start_task(
        session, state, node_uuid, "deploy", "install", body.image_url, body.image_checksum
    )
    return task_view(task)


@node_router.post("/{node_uuid}/release", status_code=202, response_model=TaskView)
async def release(node_uuid: str, session: SessionDep, state: StateDep) -> TaskView:
    """active (or error) -> cleaning: power off and wipe, then the node is available."""
    return task_view(await _start_task(session, state, node_uuid, "release", "clean"))


@router.get("/{task_uuid}", response_model=TaskView)
async def show_task(task_uuid: str, session: SessionDep) -> TaskView:
    task = await session.get(Task, task_uuid)
    if task is None:
        raise HwmgrError(404, f"task {task_uuid} not found")
    return task_view(task)


@router.get("", response_model=TaskList)
async def list_tasks(
    session: SessionDep,
    node: str | None = Query(default=None, description="only this node's tasks"),
    state: str | None = Query(default=None),
) -> TaskList:
    if state is not None and state not in st.TASK_STATES:
        raise HwmgrError(400, f"state: unknown task state {state!r}")
    query = select(Task).order_by(Task.created_at)
    if node is not None:
        query = query.where(Task.node_uuid == node)
    if state is not None:
        query = query.where(Task.state == state)
    return TaskList(tasks=[task_view(t) for t in (await session.scalars(query)).all()])
