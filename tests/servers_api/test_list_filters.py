"""Server list filters by column: admin-only before 2.83 (a user's are ignored, as
Nova drops them), open to users from 2.83; values parsed as Nova's query schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stockyard.db.models import Instance
from tests.conftest import Cloud

URL = "/compute/v2.1/servers"


async def _servers(cloud: Cloud) -> dict[str, str]:
    project = cloud.seeded.demo_project_id
    rows: dict[str, dict[str, Any]] = {
        "a": dict(
            availability_zone="az1",
            key_name="k1",
            user_id="u1",
            vm_state="active",
            power_state=1,
            config_drive="True",
            created_at=datetime(2026, 1, 2, 3, 4, 5),
            launched_at=datetime(2026, 1, 2, 3, 5, 0),
        ),
        "b": dict(
            availability_zone="az2",
            key_name="k2",
            user_id="u2",
            vm_state="stopped",
            power_state=4,
            created_at=datetime(2026, 1, 3, 0, 0, 0),
        ),
        "c": dict(vm_state="active", task_state="rebooting", power_state=1, user_id="u1"),
    }
    ids: dict[str, str] = {}
    async with cloud.state.db.session() as session:
        for name, values in rows.items():
            inst = Instance(name=name, project_id=project, flavor_id="f", **values)
            session.add(inst)
            await session.flush()
            ids[inst.uuid] = name
        await session.commit()
    return ids


async def _names(cloud: Cloud, query: str, mv: str, token: str | None = None) -> list[str]:
    h = cloud.headers(token or cloud.demo_token, mv)
    r = await cloud.client.get(f"{URL}?{query}", headers=h)
    assert r.status_code == 200, r.text
    return sorted(s["name"] for s in r.json()["servers"])


async def test_user_filters_ignored_before_2_83_applied_from_it(cloud: Cloud) -> None:
    await _servers(cloud)
    cases = {
        "availability_zone=az1": ["a"],
        "key_name=k2": ["b"],
        "user_id=u1": ["a", "c"],
        "vm_state=STOPPED": ["b"],
        "task_state=rebooting": ["c"],
        "power_state=4": ["b"],
        "config_drive=true": ["a"],
        "config_drive=false": ["b", "c"],
        "progress=100": ["a"],
        "progress=0": ["b", "c"],
        "progress=50": [],
        "created_at=2026-01-02": ["a"],
        "created_at=2026-01-02T03:04:05Z": ["a"],
        "created_at=2026-01-02T03:04:06": [],
        "launched_at=2026-01-02T03:05:00%2B00:00": ["a"],
        "terminated_at=2026-01-02": [],
    }
    for query, expected in cases.items():
        assert await _names(cloud, query, "2.82") == ["a", "b", "c"], query
        assert await _names(cloud, query, "2.83") == expected, query
        # Admins could always (their own project's servers: no all_tenants).
        assert await _names(cloud, query, "2.82", cloud.admin_token) == [], query
        everyone = f"{query}&all_tenants=1"
        assert await _names(cloud, everyone, "2.1", cloud.admin_token) == expected, query


async def test_bad_values_are_400(cloud: Cloud) -> None:
    for query in (
        "power_state=on",
        "power_state=" + "9" * 40,
        "progress=x",
        "config_drive=maybe",
        "created_at=yesterday",
        "created_at=9999-12-31",
        "launched_at=9999-12-31T23:59:59.5",
    ):
        r = await cloud.client.get(
            f"{URL}?{query}", headers=cloud.headers(cloud.demo_token, "2.83")
        )
        assert r.status_code == 400, query
    # Ignored, so not even parsed, before 2.83 (Nova drops them before looking).
    r = await cloud.client.get(
        f"{URL}?power_state=on", headers=cloud.headers(cloud.demo_token, "2.82")
    )
    assert r.status_code == 200
