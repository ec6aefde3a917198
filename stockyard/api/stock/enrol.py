"""Admin-only enrolment and removal of real baremetal nodes (``stockyard.stock.enrolment``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from stockyard.api.deps import AdminCtx, StateDep
from stockyard.api.errors import APIError
from stockyard.api.stock.common import api_error
from stockyard.api.stock.enrol_schemas import NodeEnrol
from stockyard.api.stock.hardware import state_singleton
from stockyard.api.stock.schemas import NodeOut
from stockyard.stock import StockError
from stockyard.stock.enrolment import Enrolment, enroll, remove
from stockyard.stock.hwmgr_admin import HwmgrAdmin, HwmgrUnavailable

router = APIRouter(tags=["stock"])
ADMIN_KEY = "hwmgr_admin"


async def get_hwmgr(state: StateDep) -> HwmgrAdmin:
    """One client per API state; tests put one with a stand-in transport under the key."""
    return state_singleton(state, ADMIN_KEY, HwmgrAdmin)


HwmgrDep = Annotated[HwmgrAdmin, Depends(get_hwmgr)]


def _error(exc: StockError) -> APIError:
    if isinstance(exc, HwmgrUnavailable):
        return APIError(503, str(exc))
    return api_error(exc)


@router.post(
    "/v1/nodes", status_code=201, summary="Enrol a baremetal node (admin)", response_model=NodeOut
)
async def enrol_node(
    body: NodeEnrol, ctx: AdminCtx, state: StateDep, hwmgr: HwmgrDep
) -> dict[str, Any]:
    """Bring a real server into the cloud: its region's hardware manager enrols it and
    checks that its BMC answers with the credentials given (400 naming ``bmc`` if not),
    then it becomes a node of the stock (in ``project_id``'s stock, or the pool). It is
    schedulable once the region's baremetal agent reports it, within a rescan interval.
    The BMC password is kept encrypted by the hardware manager, never by the cloud."""
    req = Enrolment(**body.model_dump(exclude={"bmc"}), bmc=body.bmc.for_hwmgr())
    try:
        node = await enroll(state.db, hwmgr, req)
    except StockError as exc:
        raise _error(exc) from exc
    return {"node": node}


@router.delete("/v1/nodes/{node_uuid}", status_code=204, summary="Remove a baremetal node (admin)")
async def remove_node(node_uuid: str, ctx: AdminCtx, state: StateDep, hwmgr: HwmgrDep) -> Response:
    """Take a node out of the cloud and its hardware manager. 409 while it holds a
    server or while the hardware manager still works on it (cleaning after a delete)."""
    try:
        await remove(state.db, hwmgr, node_uuid)
    except StockError as exc:
        raise _error(exc) from exc
    return Response(status_code=204)
