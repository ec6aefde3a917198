"""The servers pages against the in-process API (no scheduler runs here: servers stay
in BUILD until a test moves them, as the workers would)."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select, update

from stockyard.db.models import Instance, Volume
from stockyard.lifecycle.records import add_fault
from stockyard.scheduler.errors import NoValidHost, Rejection
from tests.dashboard.conftest import Browserless

NEW = "/dashboard/servers/new"


async def _launch(web: Browserless, seeded: dict[str, str], **extra: str) -> httpx.Response:
    form = {"name": "web", "count": "1", "flavor": seeded["flavor"], "image": seeded["image"]}
    form.update(extra)
    return await web.post("/dashboard/servers", form, csrf_from=NEW)


async def _servers(web: Browserless, token: str) -> list[dict[str, object]]:
    body = (
        await web.cloud.client.get("/compute/v2.1/servers/detail", headers=web.cloud.headers(token))
    ).json()
    return list(body["servers"])


async def _set_state(web: Browserless, vm_state: str, **values: object) -> None:
    async with web.cloud.state.db.session() as session:
        await session.execute(update(Instance).values(vm_state=vm_state, task_state=None, **values))
        await session.commit()


async def test_launch_from_the_form_and_the_list_polls_until_stable(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    response = await _launch(web, seeded, count="2")
    assert response.status_code == 303, response.text
    servers = await _servers(web, web.cloud.demo_token)
    assert sorted(s["name"] for s in servers) == ["web-1", "web-2"]
    page = await web.client.get("/dashboard/servers")
    assert "Creating 2 servers named web." in page.text
    assert page.text.count('data-status="BUILD"') == 2
    # Transitional: the fragment re-arms itself 1 s later and asks for a longer delay.
    assert 'hx-trigger="load delay:1.0s"' in page.text
    assert 'hx-get="/dashboard/servers/table?delay=1.5"' in page.text
    fragment = await web.client.get("/dashboard/servers/table?delay=1.5")
    assert "<html" not in fragment.text
    assert 'hx-trigger="load delay:1.5s"' in fragment.text
    assert "delay=2.2" in fragment.text
    capped = await web.client.get("/dashboard/servers/table?delay=60")
    assert 'hx-trigger="load delay:10.0s"' in capped.text and "delay=10.0" in capped.text
    # Everything stable: no trigger left, the polling stops.
    await _set_state(web, "active", power_state=1)
    stable = await web.client.get("/dashboard/servers/table?delay=2.2")
    assert stable.text.count('data-status="ACTIVE"') == 2
    assert "hx-trigger" not in stable.text and "hx-get" not in stable.text


async def test_a_new_ha_group_with_a_rack_rule_is_made_in_the_same_submit(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    response = await _launch(
        web, seeded, count="3", group="new", group_name="db",
        group_policy="anti-affinity", group_failure_domain="rack",
    )  # fmt: skip
    assert response.status_code == 303, response.text
    groups = (
        await web.cloud.client.get(
            "/compute/v2.1/os-server-groups",
            headers=web.cloud.headers(web.cloud.demo_token, "2.64"),
        )
    ).json()["server_groups"]
    assert [(g["name"], g["policy"], g["rules"]) for g in groups] == [
        ("db", "anti-affinity", {"failure_domain": "rack"})
    ]
    assert len(groups[0]["members"]) == 3
    # The form then offers the group, with its rule.
    form = await web.client.get(NEW)
    assert "db (anti-affinity, per rack)" in form.text


async def test_a_refused_create_shows_the_api_message_and_leaves_no_group(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    response = await _launch(
        web, seeded, flavor="no-such-flavor", group="new", group_name="g", group_policy="affinity"
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.text and "flavor" in response.text.lower()
    assert 'value="g"' in response.text  # the form keeps what was typed
    groups = await web.cloud.client.get("/compute/v2.1/os-server-groups", headers=web.cloud.demo)
    assert groups.json()["server_groups"] == []
    bad_count = await _launch(web, seeded, count="0")
    assert bad_count.status_code == 400 and "Count must be between 1 and 100." in bad_count.text
    assert await _servers(web, web.cloud.demo_token) == []


async def test_every_form_control_is_labelled(web: Browserless, seeded: dict[str, str]) -> None:
    await web.login()
    for path in (
        NEW,
        "/dashboard/login",
        "/dashboard/servers",
        "/dashboard/stock",
        "/dashboard/groups",
    ):
        html = (await web.client.get(path)).text
        ids = re.findall(
            r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html
        )
        controls = re.findall(r"<(?:input|select|textarea)(?![^>]*type=\"hidden\")[^>]*>", html)
        assert len(ids) == len(controls), (path, controls)
        for control_id in ids:
            assert f'<label for="{control_id}">' in html, (path, control_id)


async def test_actions_go_through_a_confirmation_page(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    await _launch(web, seeded)
    await _set_state(web, "active", power_state=1, host="h0", node="h0")
    (server,) = await _servers(web, web.cloud.demo_token)
    sid = str(server["id"])
    confirm = await web.client.get(f"/dashboard/servers/{sid}/confirm/stop")
    assert "Stop web?" in confirm.text
    assert f'action="/dashboard/servers/{sid}/action"' in confirm.text
    assert 'name="action" value="stop"' in confirm.text
    stopped = await web.post(
        f"/dashboard/servers/{sid}/action", {"action": "stop", "name": "web"},
        csrf_from=f"/dashboard/servers/{sid}/confirm/stop",
    )  # fmt: skip
    assert stopped.headers["location"] == f"/dashboard/servers/{sid}"
    (server,) = await _servers(web, web.cloud.demo_token)
    assert server["OS-EXT-STS:task_state"] == "powering-off"
    detail = await web.client.get(f"/dashboard/servers/{sid}")
    assert "Stop of web requested." in detail.text
    # Powering off: the detail polls itself until the server is stable again.
    assert 'hx-trigger="load delay:1.0s"' in detail.text and 'hx-select="#detail"' in detail.text
    # The API decides what is allowed: a second stop while powering off is its 409.
    again = await web.post(
        f"/dashboard/servers/{sid}/action", {"action": "stop", "name": "web"},
        csrf_from=f"/dashboard/servers/{sid}/confirm/stop",
    )  # fmt: skip
    assert again.status_code == 303
    assert "Stop of web refused:" in (await web.client.get(f"/dashboard/servers/{sid}")).text
    rebuild = await web.client.get(f"/dashboard/servers/{sid}/confirm/rebuild")
    assert f'<option value="{seeded["image"]}" selected>tiny</option>' in rebuild.text
    deleted = await web.post(
        f"/dashboard/servers/{sid}/action", {"action": "delete", "name": "web"},
        csrf_from=f"/dashboard/servers/{sid}/confirm/delete",
    )  # fmt: skip
    assert deleted.headers["location"] == "/dashboard/servers"
    (server,) = await _servers(web, web.cloud.demo_token)
    assert server["OS-EXT-STS:task_state"] == "deleting"


async def test_detail_shows_no_valid_host_per_filter_and_the_action_history(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    await _launch(web, seeded, name="big")
    (server,) = await _servers(web, web.cloud.demo_token)
    fault = NoValidHost(
        12,
        [
            Rejection("AvailabilityZoneFilter", 6, "not in az2"),
            Rejection("ServerGroupAntiAffinityFilter", 5, "rack r1 (az1) holds a member of db"),
            Rejection("ResourceFilter", 1, "not enough RAM"),
        ],
        subject="big",
    )
    async with web.cloud.state.db.session() as session:
        inst = await session.scalar(select(Instance).where(Instance.uuid == server["id"]))
        assert inst is not None
        inst.vm_state, inst.task_state = "error", None
        await add_fault(session, inst, fault.message)
        await session.commit()
    detail = await web.client.get(f"/dashboard/servers/{server['id']}")
    text = detail.text
    assert "hx-trigger" not in text  # ERROR is stable: no polling
    assert "No host could take this server (big)." in text
    assert "12 hosts considered; turned away by:" in text
    assert (
        "6 by the availability zone check (<code>AvailabilityZoneFilter</code>): not in az2" in text
    )
    assert "5 by the server group anti-affinity (failure domains) check" in text
    assert "rack r1 (az1) holds a member of db" in text
    assert '<th scope="row">create</th>' in text  # os-instance-actions
    assert "Console log" in text
    listing = await web.client.get("/dashboard/servers")
    assert "No host could take this server (big)." in listing.text
    assert "hx-trigger" not in listing.text  # ERROR is stable


async def test_admins_see_host_and_rack_members_do_not(
    web: Browserless, seeded: dict[str, str]
) -> None:
    cloud = web.cloud
    agg = await cloud.client.post(
        "/compute/v2.1/os-aggregates",
        json={"aggregate": {"name": "RegionOne/az1/r1", "availability_zone": "az1"}},
        headers=cloud.admin,
    )
    agg_id = agg.json()["aggregate"]["id"]
    meta = {
        "stockyard:failure_domain": "rack",
        "stockyard:region": "RegionOne",
        "stockyard:rack": "r1",
    }
    for body in ({"set_metadata": {"metadata": meta}}, {"add_host": {"host": "h1"}}):
        done = await cloud.client.post(
            f"/compute/v2.1/os-aggregates/{agg_id}/action", json=body, headers=cloud.admin
        )
        assert done.status_code == 200, done.text
    await web.login("admin", "admin-pw", "admin")
    await _launch(web, seeded, name="adm")
    await web.post("/dashboard/logout", {}, csrf_from="/dashboard/servers")
    await web.login()
    await _launch(web, seeded, name="mine")
    await _set_state(web, "active", power_state=1, host="h1", node="h1")
    member = await web.client.get("/dashboard/servers")
    assert "mine" in member.text and "adm" not in member.text
    assert '<th scope="col">Host</th>' not in member.text and "<td>h1</td>" not in member.text
    detail = await web.client.get(
        "/dashboard/servers/" + (await _servers(web, cloud.demo_token))[0]["id"]
    )
    assert "<dt>Host</dt>" not in detail.text
    await web.post("/dashboard/logout", {}, csrf_from="/dashboard/servers")
    await web.login("admin", "admin-pw", "admin")
    admin_page = await web.client.get("/dashboard/servers")
    assert '<th scope="col">Host</th><th scope="col">Rack</th>' in admin_page.text
    assert "<td>h1</td><td>az1/r1</td>" in admin_page.text


async def test_a_failed_refresh_keeps_polling_and_recovers(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    await _launch(web, seeded)
    working = web.dash.http

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    web.dash.http = httpx.AsyncClient(transport=httpx.MockTransport(down))
    try:
        failed = await web.client.get("/dashboard/servers/table?delay=1.5")
    finally:
        await web.dash.http.aclose()
        web.dash.http = working
    assert failed.status_code == 200
    assert "Could not refresh the list (the API did not answer)" in failed.text
    assert 'hx-trigger="load delay:1.5s"' in failed.text  # still polling, backed off
    again = await web.client.get("/dashboard/servers/table?delay=2.2")
    assert 'data-status="BUILD"' in again.text


async def test_boot_from_volume_from_the_form(web: Browserless, seeded: dict[str, str]) -> None:
    await web.login()
    form = (await web.client.get(NEW)).text
    assert 'for="root_volume_gb"' in form and 'id="root_volume_gb"' in form
    response = await _launch(web, seeded, root_volume_gb="2")
    assert response.status_code == 303, response.text
    (server,) = await _servers(web, web.cloud.demo_token)
    # Nova's view of a volume-backed server: no image of its own.
    assert server["image"] == ""
    async with web.cloud.state.db.session() as session:
        row = await session.scalar(select(Instance).where(Instance.uuid == server["id"]))
    assert row is not None
    (mapping,) = [m for m in row.block_devices or [] if m.get("boot_index") == 0]
    assert mapping["source_type"] == "image" and mapping["delete_on_termination"] is True
    async with web.cloud.state.db.session() as session:
        volume = await session.scalar(select(Volume).where(Volume.id == mapping["volume_id"]))
    assert volume is not None and volume.size == 2 and volume.image_id == seeded["image"]


async def test_a_bad_root_volume_size_is_said_and_nothing_is_made(
    web: Browserless, seeded: dict[str, str]
) -> None:
    await web.login()
    response = await _launch(web, seeded, root_volume_gb="lots", group="new", group_name="g")
    assert response.status_code == 400
    assert "Root volume size must be a whole number" in response.text
    assert await _servers(web, web.cloud.demo_token) == []
    groups = await web.cloud.client.get(
        "/compute/v2.1/os-server-groups", headers=web.cloud.headers(web.cloud.demo_token)
    )
    assert groups.json()["server_groups"] == []
