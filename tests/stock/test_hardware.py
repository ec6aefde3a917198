"""The admin hardware view: node states and install tasks read from each region's hwmgr."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from stockyard.settings import Settings
from stockyard.stock.hardware import endpoints
from tests.conftest import Cloud
from tests.stock.helpers import S
from tests.stock.hwmgr_fake import FakeHwmgrs, node, task


def _ago(seconds: int) -> str:
    """A naive-UTC ISO timestamp, as hwmgr writes them."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds)
    return moment.replace(tzinfo=None).isoformat()


def _fake(cloud: Cloud) -> FakeHwmgrs:
    one = [node("u1", "bm-1", "deploying"), node("u2", "bm-2", "error", "off", "BMC timed out")]
    two = [node("u3", "bm-3", "active")]
    fake = FakeHwmgrs({
        "regionone": (one, [task("t1", "u1", "installing", _ago(125)),
                            task("t0", "u2", "failed", _ago(900), _ago(800))]),
        "regiontwo": (two, [task("t2", "u3", "done", _ago(600), _ago(300))]),
    })  # fmt: skip
    fake.install(cloud, cloud.state.settings.data_dir)
    return fake


async def test_admin_sees_node_states_and_running_tasks(cloud: Cloud) -> None:
    _fake(cloud)
    resp = await cloud.client.get(f"{S}/node-states", headers=cloud.admin)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["unreachable"] == []
    states = {n["name"]: (n["region"], n["provision_state"], n["power_state"], n["last_error"])
              for n in body["nodes"]}  # fmt: skip
    assert states == {
        "bm-1": ("regionone", "deploying", "on", None),
        "bm-2": ("regionone", "error", "off", "BMC timed out"),
        "bm-3": ("regiontwo", "active", "on", None),
    }

    running = (await cloud.client.get(f"{S}/tasks?state=running", headers=cloud.admin)).json()
    assert [(t["id"], t["node_name"], t["phase"], t["state"]) for t in running["tasks"]] == [
        ("t1", "bm-1", "installing", "running")
    ]
    only = running["tasks"][0]
    assert 120 <= only["elapsed_seconds"] < 3600 and only["finished_at"] is None
    assert only["started_at"].endswith("Z")
    assert "image_url" not in only  # a signed link to the image stays inside

    done = (await cloud.client.get(f"{S}/tasks?state=finished", headers=cloud.admin)).json()
    assert [(t["id"], t["state"], t["elapsed_seconds"]) for t in done["tasks"]] == [
        ("t0", "failed", 100), ("t2", "done", 300)
    ]  # fmt: skip
    two = await cloud.client.get(f"{S}/tasks?state=all&region=regiontwo", headers=cloud.admin)
    assert [t["id"] for t in two.json()["tasks"]] == ["t2"]
    nowhere = (await cloud.client.get(f"{S}/node-states?region=mars", headers=cloud.admin)).json()
    assert nowhere["nodes"] == []
    assert nowhere["unreachable"] == [
        {"region": "mars", "message": "no hardware manager is configured for region mars"}
    ]


async def test_members_are_refused_by_the_api(cloud: Cloud) -> None:
    fake = _fake(cloud)
    for path in ("node-states", "tasks", "tasks?state=all"):
        resp = await cloud.client.get(f"{S}/{path}", headers=cloud.demo)
        assert resp.status_code == 403, path
        assert "admin only" in resp.text
    assert fake.calls == []  # refused before asking any hwmgr


async def test_a_region_whose_hwmgr_is_down_is_named_next_to_the_others(cloud: Cloud) -> None:
    fake = _fake(cloud)
    fake.down.add("regiontwo")
    for path, key in (("node-states", "nodes"), ("tasks?state=all", "tasks")):
        resp = await cloud.client.get(f"{S}/{path}", headers=cloud.admin)
        assert resp.status_code == 200
        body = resp.json()
        assert {item["region"] for item in body[key]} == {"regionone"}
        assert [u["region"] for u in body["unreachable"]] == ["regiontwo"]
        message = body["unreachable"][0]["message"]
        assert "hardware manager of region regiontwo did not answer" in message
        assert "Connection refused" in message


async def test_query_parameters_are_validated_by_name(cloud: Cloud) -> None:
    _fake(cloud)
    bad = await cloud.client.get(f"{S}/tasks?state=sleeping", headers=cloud.admin)
    assert bad.status_code == 400
    assert "state" in bad.text and "sleeping" in bad.text
    bad = await cloud.client.get(f"{S}/tasks?type=reboot", headers=cloud.admin)
    assert bad.status_code == 400 and "type" in bad.text
    bad = await cloud.client.get(f"{S}/node-states?region=", headers=cloud.admin)
    assert bad.status_code == 400 and "region" in bad.text


async def test_no_hardware_manager_configured_is_an_empty_answer(cloud: Cloud) -> None:
    resp = await cloud.client.get(f"{S}/tasks", headers=cloud.admin)
    assert resp.status_code == 200
    assert resp.json() == {"tasks": [], "unreachable": []}


def test_a_deployments_own_hwmgr_comes_from_settings(tmp_path: Path) -> None:
    """hwmgr_url + the token (as the Deployment sets them) name the region's hwmgr; it wins
    over an endpoint file of the same region, other regions' files still count."""
    for region in ("RegionOne", "RegionTwo"):
        (tmp_path / "hwmgr" / region).mkdir(parents=True)
        doc = {"region": region, "url": f"http://file-{region}", "token": "t"}
        (tmp_path / "hwmgr" / region / "endpoint.json").write_text(json.dumps(doc))
    (tmp_path / "hwmgr" / "broken").mkdir()
    (tmp_path / "hwmgr" / "broken" / "endpoint.json").write_text("{not json")
    settings = Settings(
        data_dir=tmp_path,
        hwmgr_url="http://stockyard-hwmgr:6385",
        hwmgr_token=SecretStr("svc"),
        hwmgr_region="RegionOne",
    )
    assert [(e.region, e.url, e.token) for e in endpoints(settings)] == [
        ("RegionOne", "http://stockyard-hwmgr:6385", "svc"),
        ("RegionTwo", "http://file-RegionTwo", "t"),
    ]
