"""Operator view: the floor plan and bulk host actions, through the compute API."""

from __future__ import annotations

import re

from tests.dashboard.conftest import Browserless

OPS = "/dashboard/operator"


async def _rack(web: Browserless, rack: str, hosts: list[str]) -> int:
    cloud = web.cloud
    agg = await cloud.client.post(
        "/compute/v2.1/os-aggregates",
        json={"aggregate": {"name": f"RegionOne/az1/{rack}", "availability_zone": "az1"}},
        headers=cloud.admin,
    )
    agg_id = int(agg.json()["aggregate"]["id"])
    meta = {"stockyard:failure_domain": "rack", "stockyard:region": "RegionOne",
            "stockyard:rack": rack}  # fmt: skip
    bodies = [{"set_metadata": {"metadata": meta}}, *({"add_host": {"host": h}} for h in hosts)]
    for body in bodies:
        done = await cloud.client.post(
            f"/compute/v2.1/os-aggregates/{agg_id}/action", json=body, headers=cloud.admin
        )
        assert done.status_code == 200, done.text
    return agg_id


def _hosts_in(html: str, rack: str) -> list[str]:
    """Host boxes drawn inside rack ``rack``'s group in the SVG."""
    start = html.index(f'data-az="az1" data-rack="{rack}"')
    end = html.index("</g></g>", start)  # the last host's end, then the rack's
    return re.findall(r'data-host="([^"]+)"', html[start:end])


async def test_the_floor_plan_and_bulk_actions_for_an_admin(
    web: Browserless, seeded: dict[str, str]
) -> None:
    r1 = await _rack(web, "r1", ["h1"])
    await web.login()
    refused = await web.client.get(OPS)
    assert refused.status_code == 403  # the API's answer to a member, not the dashboard's
    assert "<svg" not in refused.text
    await web.post("/dashboard/logout", {}, csrf_from="/dashboard/servers")

    await web.login("admin", "admin-pw", "admin")
    page = (await web.client.get(OPS)).text
    assert 'role="img"' in page and "Floor plan: 3 hosts, 0 holding servers" in page
    assert _hosts_in(page, "r1") == ["h1"]
    assert page.count('data-rack="(no rack)"') == 1  # h0 and h2 are in no rack aggregate
    for i in range(1, 4):
        assert f'<label for="sel-{i}"><span class="visually-hidden">Select h' in page

    done = await web.post(
        f"{OPS}/hosts",
        {"host": "h0", "action": "disable", "reason": "fan failure"},
        csrf_from=OPS,
    )
    assert done.status_code == 303
    # Two checkboxes: the form repeats the field, every value counts.
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await web.client.get(OPS)).text)
    assert token is not None
    both = await web.client.post(
        f"{OPS}/hosts",
        content=f"csrf_token={token.group(1)}&host=h0&host=h2&action=disable&reason=fan+failure",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert both.status_code == 303
    page = (await web.client.get(OPS)).text
    assert "Disable the compute service: done for 2 of 2 host(s)." in page
    assert page.count('class="svg-host svg-disabled"') == 2
    assert "disabled, up (fan failure)" in page
    services = await web.cloud.client.get(
        "/compute/v2.1/os-services?binary=nova-compute", headers=web.cloud.headers(
            web.cloud.admin_token, "2.79")
    )  # fmt: skip
    states = {s["host"]: s["status"] for s in services.json()["services"]}
    assert states == {"h0": "disabled", "h1": "enabled", "h2": "disabled"}

    # Aggregate membership: h0 joins rack r1; h1 cannot join a second rack (the API's 409).
    r2 = await _rack(web, "r2", [])
    await web.post(f"{OPS}/hosts", {"host": "h0", "action": "add", "aggregate": str(r1)},
                   csrf_from=OPS)  # fmt: skip
    page = (await web.client.get(OPS)).text
    assert "Add to aggregate: done for 1 of 1 host(s)." in page
    assert sorted(_hosts_in(page, "r1")) == ["h0", "h1"]
    await web.post(f"{OPS}/hosts", {"host": "h1", "action": "add", "aggregate": str(r2)},
                   csrf_from=OPS)  # fmt: skip
    page = (await web.client.get(OPS)).text
    assert "Add to aggregate: done for 0 of 1 host(s); refused for h1:" in page
    assert "already in rack aggregate" in page
    nothing = await web.post(f"{OPS}/hosts", {"action": "enable"}, csrf_from=OPS)
    assert nothing.status_code == 303
    assert "Select at least one host." in (await web.client.get(OPS)).text
