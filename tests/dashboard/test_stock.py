"""The stock page: a project's baremetal stock, its requests, the admin's decisions."""

from __future__ import annotations

import re

from tests.dashboard.conftest import Browserless
from tests.stock.helpers import add_node

STOCK = "/dashboard/stock"


async def test_stock_by_class_zone_rack_and_a_request_approved_by_an_admin(
    web: Browserless, seeded: dict[str, str]
) -> None:
    demo = web.cloud.seeded.demo_project_id
    await add_node(web.cloud, "g1", rack="r1", owner=demo, in_use=True)
    await add_node(web.cloud, "g2", rack="r2", owner=demo)
    for i, rack in enumerate(("r1", "r2", "r3")):
        await add_node(web.cloud, f"s{i}", rack=rack, resource_class="BM_SILVER")
    await web.login()
    page = (await web.client.get(STOCK)).text
    assert "Stock of project demo: 2 nodes, 1 free, 1 in use" in page
    assert 'data-class="BM_GOLD" data-az="az1" data-rack="r1" data-free="0" data-in-use="1"' in page
    assert 'data-class="BM_GOLD" data-az="az1" data-rack="r2" data-free="1" data-in-use="0"' in page
    assert "Unassigned pool" not in page  # the API keeps the pool to admins
    assert "No stock requests yet." in page

    asked = await web.post(
        f"{STOCK}/requests",
        {"resource_class": "bm_silver", "availability_zone": "az1", "count": "2", "min_racks": "2"},
        csrf_from=STOCK,
    )
    assert asked.status_code == 303
    page = (await web.client.get(STOCK)).text
    assert "Asked for 2 BM_SILVER in az1: pending." in page
    assert "2 of BM_SILVER in az1 on at least 2 racks" in page
    assert 'data-status="pending"' in page
    assert "Approve" not in page and 'aria-label="Cancel request' in page
    # A member's approve is the API's 403, shown in words.
    (req_id,) = re.findall(r'id="req-([0-9a-f-]{36})"', page)
    refused = await web.post(f"{STOCK}/requests/{req_id}/approve", {}, csrf_from=STOCK)
    assert refused.status_code == 303
    assert "Approval refused:" in (await web.client.get(STOCK)).text

    await web.post("/dashboard/logout", {}, csrf_from=STOCK)
    await web.login("admin", "admin-pw", "admin")
    page = (await web.client.get(STOCK)).text
    assert "Unassigned pool (what approvals draw from): 3 nodes, 3 free, 0 in use" in page
    assert f'aria-label="Approve request {req_id[:8]}"' in page
    assert f'<tr id="req-{req_id}" data-status="pending">' in page
    assert "<td>demo</td>" in page  # the requesting project by name (Identity's list)
    approved = await web.post(f"{STOCK}/requests/{req_id}/approve", {}, csrf_from=STOCK)
    assert approved.status_code == 303
    page = (await web.client.get(STOCK)).text
    assert f"Request {req_id[:8]} is now approved (2 nodes assigned)." in page
    assert "Unassigned pool (what approvals draw from): 1 node, 1 free" in page

    await web.post("/dashboard/logout", {}, csrf_from=STOCK)
    await web.login()
    page = (await web.client.get(STOCK)).text
    assert "Stock of project demo: 4 nodes, 3 free, 1 in use" in page
    assert 'data-status="approved"' in page and "2 nodes assigned" in page


async def test_a_rejection_needs_a_reason_and_the_requester_reads_it(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    bad = await web.post(
        f"{STOCK}/requests",
        {"resource_class": "BM_GOLD", "availability_zone": "az1", "count": "two"},
        csrf_from=STOCK,
    )
    assert bad.status_code == 400 and "Count must be a whole number." in bad.text
    too_spread = await web.post(
        f"{STOCK}/requests",
        {"resource_class": "BM_GOLD", "availability_zone": "az1", "count": "1", "min_racks": "3"},
        csrf_from=STOCK,
    )
    assert too_spread.status_code == 400 and "min_racks" in too_spread.text  # the API's words
    await web.post(
        f"{STOCK}/requests",
        {"resource_class": "BM_GOLD", "availability_zone": "az1", "count": "5"},
        csrf_from=STOCK,
    )
    await web.post("/dashboard/logout", {}, csrf_from=STOCK)
    await web.login("admin", "admin-pw", "admin")
    page = (await web.client.get(STOCK)).text
    (req_id,) = re.findall(r'id="req-([0-9a-f-]{36})"', page)
    assert f'<label for="reason-{req_id}">Reason</label>' in page
    empty = await web.post(f"{STOCK}/requests/{req_id}/reject", {"reason": " "}, csrf_from=STOCK)
    assert empty.status_code == 303
    assert "A rejection needs a reason" in (await web.client.get(STOCK)).text
    # Nothing in the pool: an approval is the API's 409, the request stays pending.
    await web.post(f"{STOCK}/requests/{req_id}/approve", {}, csrf_from=STOCK)
    page = (await web.client.get(STOCK)).text
    assert "Approval refused:" in page and 'data-status="pending"' in page
    await web.post(
        f"{STOCK}/requests/{req_id}/reject", {"reason": "no gold left this quarter"},
        csrf_from=STOCK,
    )  # fmt: skip
    await web.post("/dashboard/logout", {}, csrf_from=STOCK)
    await web.login()
    page = (await web.client.get(STOCK)).text
    assert 'data-status="rejected"' in page and "Rejected: no gold left this quarter" in page
