"""Admin-only hardware view: node states and install tasks from each region's hwmgr.

The API reads hwmgr's own REST API with its service token (``stockyard.stock.hardware``);
the dashboard and the CLI see only this public, role-checked answer. A region whose hwmgr
does not answer is named in ``unreachable`` and the others' answers still come back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, cast

from fastapi import APIRouter, Depends, Query

from stockyard.api.deps import AdminCtx, StateDep
from stockyard.api.state import APIState
from stockyard.api.stock.hardware_schemas import NodeStateList, TaskList
from stockyard.settings import Settings
from stockyard.stock.hardware import Answer, HardwareReader

router = APIRouter(tags=["stock"])
READER_KEY = "hwmgr_reader"
T = TypeVar("T")
_REGION = Query(None, min_length=1, max_length=64, description="Only this region's hwmgr.")


def state_singleton(state: APIState, key: str, factory: Callable[[Settings], T]) -> T:
    """The API state's one ``factory(settings)`` object under ``key``, made on first use
    (tests put one with a stand-in transport there)."""
    found = state.extra.get(key)
    if found is None:
        found = state.extra[key] = factory(state.settings)
    return cast(T, found)


async def get_reader(state: StateDep) -> HardwareReader:
    """One reader per API state (async: a plain def dependency runs in the thread pool)."""
    return state_singleton(state, READER_KEY, HardwareReader)


ReaderDep = Annotated[HardwareReader, Depends(get_reader)]


def _body(key: str, answer: Answer) -> dict[str, Any]:
    return {
        key: answer.items,
        "unreachable": [{"region": u.region, "message": u.message} for u in answer.unreachable],
    }


@router.get(
    "/v1/node-states", summary="Node states from the hardware managers (admin)",
    response_model=NodeStateList,
)  # fmt: skip
async def node_states(
    ctx: AdminCtx, reader: ReaderDep, region: str | None = _REGION
) -> dict[str, Any]:
    """Each baremetal node's provision state (enrolled, available, deploying, active,
    cleaning, error), power state and last error. Regions whose hardware manager did not
    answer are listed in ``unreachable`` with the reason."""
    return _body("nodes", await reader.nodes(region))


@router.get("/v1/tasks", summary="Install and clean tasks (admin)", response_model=TaskList)
async def tasks(
    ctx: AdminCtx,
    reader: ReaderDep,
    state: Literal["running", "finished", "all"] = Query(
        "running", description="running (default): not yet done or failed."
    ),
    region: str | None = _REGION,
    task_type: Literal["install", "clean"] | None = Query(
        None, alias="type", description="Only this task type."
    ),
) -> dict[str, Any]:
    """Tasks oldest first with their ``phase`` (queued, powering_off, setting_pxe,
    powering_on, installing, rebooting, done, failed), ``started_at`` and
    ``elapsed_seconds`` (until now, or until it finished)."""
    return _body("tasks", await reader.tasks(region, state, task_type))


__all__ = ["router"]
