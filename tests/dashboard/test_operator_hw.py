"""Operator view: node states in the floor plan and the node list, and the install tasks
in progress with phase and elapsed time, polling only while a task runs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.dashboard.conftest import Browserless
from tests.stock.hwmgr_fake import FakeHwmgrs, node, task

OPS = "/dashboard/operator"


def _ago(seconds: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).replace(tzinfo=None).isoformat()


def _fake(web: Browserless) -> FakeHwmgrs:
    nodes = [node("u1", "h1", "deploying"), node("u2", "h2", "error", "off", "BMC timed out")]
    fake = FakeHwmgrs({
        "regionone": (nodes, [task("t1", "u1", "powering_on", _ago(125))]),
        "regiontwo": ([node("u9", "far-1", "active")], []),
    })  # fmt: skip
    fake.install(web.cloud, web.cloud.state.settings.data_dir)
    return fake


async def test_node_states_and_running_tasks_for_an_admin(
    web: Browserless, seeded: dict[str, str]
) -> None:
    fake = _fake(web)
    await web.login("admin", "admin-pw", "admin")
    page = (await web.client.get(OPS)).text
    # The picture: a state line per node, its colour class, and the state in the tooltip.
    pattern = (
        r'<g class="svg-host svg-installing" data-host="h1" '
        r'data-provision-state="deploying"[^>]*><title>([^<]*)</title>'
    )
    h1 = re.search(pattern, page)
    assert h1 is not None, page
    assert "node deploying, power on" in h1.group(1)
    assert 'class="svg-host svg-node-error" data-host="h2" data-provision-state="error"' in page
    assert "last error: BMC timed out" in page
    assert '<text class="svg-line svg-state-error"' in page
    # The node list: a labelled column.
    assert '<th scope="col">Node state</th>' in page
    assert 'data-provision-state="error">error, power off (BMC timed out)</td>' in page
    # The tasks: phase and elapsed time, in a table that polls while the task runs.
    section = page[page.index('<section id="install-tasks"') :]
    section = section[: section.index("</section>")]
    assert '<h2 id="install-tasks-h">Install tasks in progress</h2>' in section
    assert 'hx-get="/dashboard/operator/tasks" hx-trigger="load delay:5s"' in section
    row = re.search(r'<tr data-task="t1" data-phase="powering_on">(.*?)</tr>', section, re.S)
    assert row is not None, section
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    assert cells[:4] == ["h1", "regionone", "install", "powering on"]
    assert re.fullmatch(r"2 min 0[5-9] s", cells[5]), cells
    assert "1 task in progress" in section

    # The fragment the poll swaps in; once the task is done, it stops polling.
    fragment = (await web.client.get(f"{OPS}/tasks", headers={"HX-Request": "true"})).text
    assert fragment.lstrip().startswith('<div id="tasks-table"') and "powering on" in fragment
    fake.regions["regionone"][1][0]["state"] = "done"
    fake.regions["regionone"][0][0]["provision_state"] = "active"
    fragment = (await web.client.get(f"{OPS}/tasks", headers={"HX-Request": "true"})).text
    assert "No install or clean task in progress." in fragment
    assert "hx-trigger" not in fragment
    # The picture comes along, out of band, with the node's new state.
    picture = fragment[fragment.index('<div class="picture" id="floor-plan-picture" '
                                      'hx-swap-oob="true">') :]  # fmt: skip
    assert 'data-host="h1" data-provision-state="active"' in picture
    assert "svg-installing" not in picture


async def test_a_silent_hardware_manager_is_named_on_the_page(
    web: Browserless, seeded: dict[str, str]
) -> None:
    fake = _fake(web)
    fake.down.add("regiontwo")
    await web.login("admin", "admin-pw", "admin")
    resp = await web.client.get(OPS)
    assert resp.status_code == 200
    page = resp.text
    assert 'role="alert">Node states unknown for region regiontwo: the hardware manager ' \
        "of region regiontwo did not answer" in page  # fmt: skip
    assert "Tasks unknown for region regiontwo" in page
    assert 'data-task="t1"' in page  # the other region's task is still there
    assert 'data-provision-state="deploying"' in page


async def test_a_member_gets_the_api_refusal_and_no_tasks(
    web: Browserless, seeded: dict[str, str]
) -> None:
    fake = _fake(web)
    await web.login()
    refused = await web.client.get(OPS)
    assert refused.status_code == 403
    fragment = await web.client.get(f"{OPS}/tasks", headers={"HX-Request": "true"})
    assert "data-task" not in fragment.text and "hx-trigger" not in fragment.text
    assert not any("/v1/tasks" in c for c in fake.calls)  # the API refused before hwmgr
