"""``os-migrations``: nothing migrates in Stockyard yet, so the list is empty; the
query is still checked per microversion, and only admins may ask."""

from __future__ import annotations

from tests.compute_api.helpers import V
from tests.conftest import Cloud

URL = f"{V}/os-migrations"


async def test_empty_list_at_each_schema_version(cloud: Cloud) -> None:
    for mv in (None, "2.23", "2.59", "2.66", "2.79", "2.80"):
        r = await cloud.client.get(URL, headers=cloud.headers(cloud.admin_token, mv))
        assert r.status_code == 200, (mv, r.text)
        assert r.json() == {"migrations": []}
    filtered = await cloud.client.get(
        f"{URL}?host=hv-1&status=finished&migration_type=resize&hidden=0", headers=cloud.admin
    )
    assert filtered.json() == {"migrations": []}


async def test_admin_only(cloud: Cloud) -> None:
    assert (await cloud.client.get(URL, headers=cloud.demo)).status_code == 403


async def test_query_validation(cloud: Cloud) -> None:
    def h(mv: str) -> dict[str, str]:
        return cloud.headers(cloud.admin_token, mv)

    # Before 2.59 unknown parameters are ignored, as Nova's schema allows them.
    old = await cloud.client.get(f"{URL}?foo=1&limit=x", headers=h("2.58"))
    assert old.status_code == 200
    for query, mv in (
        ("foo=1", "2.59"),
        ("limit=-1", "2.59"),
        ("limit=abc", "2.59"),
        ("changes-since=yesterday", "2.59"),
        ("changes-before=2020-01-01T00:00:00", "2.59"),
        ("marker=0b6b6c2f-3a39-4c68-9b63-27f0cbb8d3b7", "2.59"),
        ("changes-since=2020-01-02T00:00:00Z&changes-before=2020-01-01T00:00:00", "2.66"),
        ("user_id=u1", "2.79"),
        ("project_id=p1", "2.79"),
    ):
        r = await cloud.client.get(f"{URL}?{query}", headers=h(mv))
        assert r.status_code == 400, (query, mv, r.text)
    ok = await cloud.client.get(
        f"{URL}?limit=5&changes-since=2020-01-01T00:00:00Z&changes-before=2020-01-02T00:00:00",
        headers=h("2.66"),
    )
    assert ok.status_code == 200 and ok.json() == {"migrations": []}


async def test_owner_filters_from_2_80(cloud: Cloud) -> None:
    r = await cloud.client.get(
        f"{URL}?user_id=u1&project_id=p1", headers=cloud.headers(cloud.admin_token, "2.80")
    )
    assert r.status_code == 200 and r.json() == {"migrations": []}
