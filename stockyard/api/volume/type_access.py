"""Private volume types' project access (Cinder's ``os-volume-type-access``): who, besides
admins, sees and uses a type made with ``os-volume-type-access:is_public`` false."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Response
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from stockyard.api.deps import AdminCtx, SessionDep
from stockyard.api.errors import APIError
from stockyard.api.volume.types import get_type
from stockyard.db.base import execute_count
from stockyard.db.models import VolumeType, VolumeTypeProject

router = APIRouter()
_ACTIONS = ("addProjectAccess", "removeProjectAccess")


@router.get("/types/{type_id}/os-volume-type-access")
async def list_access(type_id: str, ctx: AdminCtx, session: SessionDep) -> dict[str, Any]:
    vtype = await get_type(session, ctx, type_id)
    if vtype.is_public:
        raise APIError(404, "Access list not available for public volume types.")
    rows = await session.scalars(
        select(VolumeTypeProject)
        .where(VolumeTypeProject.volume_type_id == vtype.id)
        .order_by(VolumeTypeProject.created_at, VolumeTypeProject.project_id)
    )
    return {
        "volume_type_access": [
            {"volume_type_id": row.volume_type_id, "project_id": row.project_id} for row in rows
        ]
    }


def _project(body: Any) -> tuple[str, str]:
    """The action and its project, or Cinder's 400 naming what is wrong."""
    if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in _ACTIONS:
        raise APIError(
            400, "Invalid input received: the action must be one of addProjectAccess, "
            "removeProjectAccess.",
        )  # fmt: skip
    action = next(iter(body))
    args = body[action]
    project = args.get("project") if isinstance(args, dict) else None
    if project is None:
        raise APIError(400, "Missing required element 'project' in request body.")
    if not isinstance(project, str) or not project.strip() or len(project) > 64:
        raise APIError(
            400, "Invalid input received: project must be a project id of 1 to 64 characters."
        )
    return action, project


@router.post("/types/{type_id}/action", status_code=202, response_class=Response)
async def type_action(
    type_id: str, ctx: AdminCtx, session: SessionDep, body: Any = Body(None)
) -> None:
    action, project = _project(body)
    vtype: VolumeType = await get_type(session, ctx, type_id)
    if vtype.is_public:
        raise APIError(
            400, "Invalid volume type: Type access modification is not applicable to "
            "public volume type.",
        )  # fmt: skip
    combination = f"{vtype.id} / {project} combination"
    if action == "addProjectAccess":
        try:
            async with session.begin_nested():
                session.add(VolumeTypeProject(volume_type_id=vtype.id, project_id=project))
        except IntegrityError:
            raise APIError(409, f"Volume type access for {combination} already exists.") from None
    else:
        gone = await execute_count(
            session,
            delete(VolumeTypeProject).where(
                VolumeTypeProject.volume_type_id == vtype.id,
                VolumeTypeProject.project_id == project,
            ),
        )
        if not gone:
            raise APIError(404, f"Volume type access not found for {combination}.")
    await session.commit()
