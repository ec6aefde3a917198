"""The HA groups page: each group over its failure domains, against the in-process API
(no scheduler here: the test puts members on hosts as the workers would)."""

from __future__ import annotations

import re

from sqlalchemy import select

from stockyard.dashboard.groups_data import GroupView, Member, picture
from stockyard.db.models import Instance
from stockyard.lifecycle.records import add_fault
from stockyard.scheduler.errors import NoValidHost, Rejection
from tests.dashboard.conftest import Browserless
from tests.stock.helpers import add_node

NEW = "/dashboard/servers/new"


async def _place(web: Browserless, placements: dict[str, str | None]) -> None:
    """Server name -> host (active there), or None (ERROR with a No valid host fault)."""
    async with web.cloud.state.db.session() as session:
        for inst in (await session.scalars(select(Instance))).all():
            host = placements.get(inst.name, "absent")
            if host == "absent":
                continue
            if host is None:
                inst.vm_state, inst.task_state = "error", None
                fault = NoValidHost(
                    3,
                    [Rejection("ServerGroupAntiAffinityFilter", 3, "each rack holds a member")],
                    subject=inst.name,
                )
                await add_fault(session, inst, fault.message)
            else:
                inst.vm_state, inst.task_state, inst.power_state = "active", None, 1
                inst.host = inst.node = host
        await session.commit()


def _racks(html: str) -> dict[str, str]:
    """Rack name -> members count, from the picture's rack boxes."""
    boxes = re.findall(
        r'<g class="svg-rack[^"]*" data-az="az1" data-members="(\d+)" data-rack="(\w+)"', html
    )
    return {rack: members for members, rack in boxes}


async def test_a_rack_anti_affinity_group_is_drawn_over_its_racks(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    form = {
        "name": "db", "count": "3", "flavor": seeded["flavor"], "image": seeded["image"],
        "group": "new", "group_name": "db-ha", "group_policy": "anti-affinity",
        "group_failure_domain": "rack",
    }  # fmt: skip
    created = await web.post("/dashboard/servers", form, csrf_from=NEW)
    assert created.status_code == 303, created.text
    building = await web.client.get("/dashboard/groups")
    assert 'hx-trigger="load delay:1.0s"' in building.text  # members still BUILD: it polls
    assert building.text.count("not on a host yet") == 3

    await _place(web, {"db-1": "h0", "db-2": "h1", "db-3": "h2"})
    # A rack of the project's stock is a domain the user knows: drawn, empty.
    await add_node(web.cloud, "bm-9", rack="r9", owner=web.cloud.seeded.demo_project_id)
    page = (await web.client.get("/dashboard/groups")).text
    assert "hx-trigger" not in page
    assert "Hard anti-affinity per rack: must be spread, one rack per member." in page
    assert 'data-rule-met="true"' in page and "Rule met" in page
    assert _racks(page) == {"r0": "1", "r1": "1", "r2": "1", "r9": "0"}
    assert page.count('class="svg-rack svg-used"') == 3
    for name in ("db-1", "db-2", "db-3"):
        assert f'<tr data-member="{name}" data-rack="r' in page

    # A 4th member that cannot fit: in the group, on no rack, with the reason in words.
    group_id = re.search(r'id="g-([0-9a-f-]{36})"', page)
    assert group_id is not None
    member = re.search(r'<a href="(/dashboard/servers/[0-9a-f-]{36})">db-1</a>', page)
    assert member is not None
    detail = (await web.client.get(member.group(1))).text
    assert f'<a href="/dashboard/groups/{group_id.group(1)}">' in detail  # back to its group
    more = {**form, "name": "db-4", "count": "1", "group": group_id.group(1)}
    assert (await web.post("/dashboard/servers", more, csrf_from=NEW)).status_code == 303
    await _place(web, {"db-4": None})
    page = (await web.client.get(f"/dashboard/groups/{group_id.group(1)}")).text
    assert "No host could take this server (db-4)." in page
    assert "3 by the server group anti-affinity (failure domains) check" in page
    assert "each rack holds a member" in page
    assert "Rule met</span> by the 3 placed members." in page
    assert _racks(page) == {"r0": "1", "r1": "1", "r2": "1", "r9": "0"}

    # Two members on one rack: the API says the rule is broken, the rack is marked.
    await _place(web, {"db-2": "h0"})
    page = (await web.client.get("/dashboard/groups")).text
    assert 'data-rule-met="false"' in page and "Rule broken" in page
    assert _racks(page) == {"r0": "2", "r2": "1", "r9": "0"}
    assert page.count('class="svg-rack svg-crowded"') == 1


async def test_another_projects_group_is_not_shown(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login("admin", "admin-pw", "admin")
    form = {
        "name": "adm", "count": "1", "flavor": seeded["flavor"], "image": seeded["image"],
        "group": "new", "group_name": "admins-group", "group_policy": "affinity",
    }  # fmt: skip
    assert (await web.post("/dashboard/servers", form, csrf_from=NEW)).status_code == 303
    assert "admins-group" in (await web.client.get("/dashboard/groups")).text
    await web.post("/dashboard/logout", {}, csrf_from="/dashboard/servers")
    await web.login()
    page = await web.client.get("/dashboard/groups")
    assert "admins-group" not in page.text and "No server groups in project demo." in page.text
    new = await web.client.get(f"{NEW}?group=new")
    assert '<option value="new" selected>' in new.text


def test_the_picture_marks_only_the_domains_that_break_the_rule() -> None:
    def member(name: str, rack: str | None, host: str) -> Member:
        return Member(name, name, "ACTIVE", host, "R", "az1" if rack else None, rack)

    soft = GroupView(
        "g1", "web", "soft-anti-affinity", "host", False,
        [member("a", "r1", "h1"), member("b", "r1", "h1"), member("c", "r2", "h2")],
        racks=[("R", "az1", "r1"), ("R", "az1", "r2"), ("R", "az1", "r3")],
    )  # fmt: skip
    svg = str(picture(soft))
    assert svg.count('class="svg-host svg-crowded"') == 1  # h1 holds a and b
    assert svg.count('class="svg-host svg-used"') == 1
    assert "no member" in svg  # r3 is drawn, empty
    assert 'role="img"' in svg and "rule not met" in svg
    together = GroupView(
        "g2", "db", "affinity", "az", True, [member("a", "r1", "h1"), member("b", "r2", "h2")]
    )
    svg = str(picture(together))
    assert svg.count('class="svg-az svg-used"') == 1 and "svg-crowded" not in svg
    hostile = GroupView("g3", "<x>", "affinity", "rack", False, [member("<b>", "r1", "h")])
    assert "<b>" not in str(picture(hostile)) and "&lt;b&gt;" in str(picture(hostile))
