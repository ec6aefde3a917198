"""HA groups: each server group drawn over its failure domains, with its rule's verdict.

The page polls itself (as the servers list does) while a member is in a transitional
state, so members appear in their racks as they land without a reload.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from stockyard.dashboard.groups_data import group_view, group_views, known_racks, picture
from stockyard.dashboard.servers_data import TRANSITIONAL
from stockyard.dashboard.views_servers import FIRST_DELAY, _poll
from stockyard.dashboard.web import UserPage

router = APIRouter()


@router.get("/groups")
async def groups_page(page: UserPage, delay: float = Query(FIRST_DELAY)) -> Response:
    groups = await group_views(page.api)
    moving = any(m.status in TRANSITIONAL for g in groups for m in g.members)
    now, after = _poll(delay)
    return page.render(
        "groups.html",
        groups=[(g, picture(g)) for g in groups],
        moving=moving,
        delay=now,
        next_delay=after,
    )


@router.get("/groups/{group_id}")
async def group_page(page: UserPage, group_id: str, delay: float = Query(FIRST_DELAY)) -> Response:
    group = await group_view(page.api, group_id, await known_racks(page.api))
    moving = any(m.status in TRANSITIONAL for m in group.members)
    now, after = _poll(delay)
    return page.render(
        "group.html", g=group, svg=picture(group), moving=moving, delay=now, next_delay=after
    )
