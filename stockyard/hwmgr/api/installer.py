"""Routes the installer (a PXE-booted machine) calls: iPXE script, image, call-back.

None of them takes the service token. The iPXE script is public as PXE is on a real
network, but only exists while a task of that node is ``installing``; it is the only
place the per-task token appears. Image and call-back require that token.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse
from sqlalchemy import CursorResult, select, update

from stockyard.db.base import utcnow
from stockyard.hwmgr.api.deps import SessionDep, StateDep
from stockyard.hwmgr.api.errors import HwmgrError
from stockyard.hwmgr.api.schemas import Callback
from stockyard.hwmgr.crypto import token_hash
from stockyard.hwmgr.db.models import Task
from stockyard.hwmgr.images import parse_checksum
from stockyard.hwmgr.tasks import states as st

router = APIRouter(prefix="/v1", tags=["installer"])


def _task_token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-task-token", "")


def _check_token(task: Task, given: str) -> None:
    if not given or not hmac.compare_digest(token_hash(given), task.callback_token_hash):
        raise HwmgrError(401, "a valid task token is required")


@router.get("/boot/{node_uuid}.ipxe", response_class=PlainTextResponse)
async def ipxe_script(
    node_uuid: str, request: Request, session: SessionDep, state: StateDep
) -> PlainTextResponse:
    """The node's iPXE script: installer kernel + initrd, the task id and token as args."""
    task = await session.scalar(
        select(Task).where(Task.node_uuid == node_uuid, Task.state == st.INSTALLING)
    )
    if task is None:
        raise HwmgrError(404, f"no install or clean task of node {node_uuid} is installing")
    base = (state.settings.public_url or str(request.base_url)).rstrip("/")
    token = state.box.decrypt(task.callback_token_encrypted).get_secret_value()
    args = [
        f"stockyard.task={task.uuid}",
        f"stockyard.token={token}",
        f"stockyard.mode={task.type}",
        f"stockyard.callback={base}/v1/tasks/{task.uuid}/callback",
    ]
    if task.image_checksum:
        digest = parse_checksum(task.image_checksum)
        args += [f"stockyard.image={base}/v1/images/{digest}", f"stockyard.checksum={digest}"]
    script = "\n".join(
        [
            "#!ipxe",
            f"kernel {state.settings.installer_kernel_url} {' '.join(args)}",
            f"initrd {state.settings.installer_initrd_url}",
            "boot",
            "",
        ]
    )
    return PlainTextResponse(script, headers={"Cache-Control": "no-store"})


@router.get("/images/{checksum}", response_class=FileResponse)
async def image(checksum: str, request: Request, session: SessionDep, state: StateDep) -> Response:
    """The cached image, to the installer of an installing task that uses it."""
    try:
        digest = parse_checksum(checksum)
    except ValueError as exc:
        raise HwmgrError(400, f"checksum: {exc}") from exc
    task_uuid = request.headers.get("x-task-id", "")
    task = await session.get(Task, task_uuid) if task_uuid else None
    if task is None:
        raise HwmgrError(401, "X-Task-Id and the task token are required")
    _check_token(task, _task_token(request))
    if task.state != st.INSTALLING or task.image_checksum != f"sha256:{digest}":
        raise HwmgrError(403, "this task does not install that image now")
    path = state.images.path_for(digest)
    if not path.is_file():
        raise HwmgrError(404, f"image {digest} is not in the cache")
    return FileResponse(path, media_type="application/octet-stream")


@router.post("/tasks/{task_uuid}/callback", status_code=204)
async def callback(
    task_uuid: str, body: Callback, request: Request, session: SessionDep, state: StateDep
) -> Response:
    """The installer reports success or failure; recorded once, then the runner is woken."""
    task = await session.get(Task, task_uuid)
    if task is None:
        raise HwmgrError(404, f"task {task_uuid} not found")
    _check_token(task, _task_token(request))
    if body.type is not None and body.type != task.type:
        raise HwmgrError(400, f"type: this is a {task.type} task, not {body.type}")
    seen_state = task.state
    result = await session.execute(
        update(Task)
        .where(
            Task.uuid == task_uuid,
            Task.state == st.INSTALLING,
            Task.callback_status.is_(None),
        )
        .values(callback_status=body.status, callback_message=body.message, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        await session.rollback()
        raise HwmgrError(409, f"task {task_uuid} is {seen_state}; call-back not expected")
    await session.commit()
    state.runner.notify(task_uuid)
    return Response(status_code=204)
