"""Every process answers /healthz and /readyz; the API's ``x-openstack-request-id``
reaches the scheduler's, conductor's and agent's (JSON) log lines through RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.topology import drive
from tests.topology.cluster import Cluster, destroy_cluster, lab_yaml, make_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    lab = lab_yaml(tmp_path / "lab.yaml", azs=1, racks=2, per_rack=1)
    c = make_cluster(tmp_path, "postgresql", lab, STOCKYARD_LOG_JSON="true")
    try:
        for role in ("api", "scheduler", "conductor", "agent"):
            c.start(role)
        yield c
    finally:
        destroy_cluster(c)


def test_health_and_request_id_across_roles(cluster: Cluster) -> None:
    for p in cluster.procs:
        base = f"http://127.0.0.1:{p.health_port}"
        assert httpx.get(f"{base}/healthz").status_code == 200, p.role
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ok", (p.role, ready.text)

    cli = cluster.cli
    flavor = cli.os_json("flavor", "show", "m1.tiny")["id"]
    image = cli.os_json("image", "show", "stockyard-default")["id"]
    rid = f"req-{uuid.uuid4()}"
    resp = httpx.post(
        f"{cluster.base_url}/compute/v2.1/servers",
        json=drive.server_body("traced", flavor, image),
        headers={"X-Auth-Token": cluster.token(), "x-openstack-request-id": rid},
    )
    assert resp.status_code == 202, resp.text
    assert resp.headers["x-openstack-request-id"] == rid
    rows = asyncio.run(drive.wait_settled(cluster, 1, within=60))
    assert rows[0].vm_state == "active"

    for role in ("scheduler", "conductor", "agent"):
        proc = next(p for p in cluster.procs if p.role == role)
        lines = [json.loads(x) for x in proc.log_path.read_text().splitlines() if x.startswith("{")]
        tagged = [x for x in lines if x["request_id"] == rid]
        assert tagged, f"{role} logged nothing with {rid}:\n{cluster.tail(proc)}"
        assert all(x["role"] == role for x in tagged)
