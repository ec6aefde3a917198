"""Block Storage ``os-quota-class-sets``: admins read and set a quota class's limits; the
``default`` class's are every project's defaults (:func:`stockyard.volume.quota.limits`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from stockyard.api.deps import AdminCtx, SessionDep, StateDep
from stockyard.api.errors import APIError
from stockyard.api.volume.quotas import validated_limits
from stockyard.api.volume.types import default_type
from stockyard.db.limits import store_limits
from stockyard.db.models import VolumeQuotaClass
from stockyard.volume import quota

router = APIRouter()


def _class_name(name: str) -> str:
    if not name.strip() or len(name) > 255:
        raise APIError(400, "Invalid input received: a quota class name is 1 to 255 characters.")
    return name


@router.get("/os-quota-class-sets/{class_name}")
async def show_class(
    class_name: str, ctx: AdminCtx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    name = _class_name(class_name)
    await default_type(session)  # every cloud has it: its per-type keys are listed
    limits = await quota.class_limits(session, state.settings, name)
    await session.commit()
    return {"quota_class_set": {"id": name, **limits}}


@router.put("/os-quota-class-sets/{class_name}")
async def update_class(
    class_name: str, ctx: AdminCtx, session: SessionDep, state: StateDep, body: Any = Body(None)
) -> dict[str, Any]:
    name = _class_name(class_name)
    limits = await validated_limits(session, body, "quota_class_set")
    await store_limits(session, VolumeQuotaClass, {"class_name": name}, limits)
    await session.commit()
    # Cinder's update answer has no id.
    return {"quota_class_set": await quota.class_limits(session, state.settings, name)}
