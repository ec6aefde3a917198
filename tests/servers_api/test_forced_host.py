"""``--availability-zone az:host`` (admin) reaches the scheduler as a forced host."""

from __future__ import annotations

from sqlalchemy import select

from stockyard.db.models import Instance
from stockyard.scheduler.filters.hosts import parse_forced_host
from tests.conftest import Cloud
from tests.servers_api.conftest import Seed, server_body


async def _stored(cloud: Cloud, body: dict[str, object], version: str) -> Instance:
    r = await cloud.client.post(
        "/compute/v2.1/servers", json=body, headers=cloud.headers(cloud.admin_token, version)
    )
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    async with cloud.state.db.session() as session:
        return (await session.execute(select(Instance).where(Instance.uuid == sid))).scalar_one()


async def test_az_host_is_stored_as_the_schedulers_forced_host(cloud: Cloud, seed: Seed) -> None:
    row = await _stored(cloud, server_body(seed, availability_zone="az1:h1"), "2.79")
    assert row.requested_az == "az1"
    assert parse_forced_host(row.forced_host or "") == ("az1", "h1")
    row = await _stored(cloud, server_body(seed, availability_zone="az1::h2"), "2.79")
    assert parse_forced_host(row.forced_host or "") == ("az1", "h2")
    plain = await _stored(cloud, server_body(seed, availability_zone="az1"), "2.79")
    assert plain.requested_az == "az1" and plain.forced_host is None


async def test_host_field_is_a_forced_host_in_any_zone(cloud: Cloud, seed: Seed) -> None:
    row = await _stored(cloud, server_body(seed, host="h0"), "2.74")
    assert parse_forced_host(row.forced_host or "") == (None, "h0")
