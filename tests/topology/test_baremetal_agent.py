"""The baremetal agent as its own process (``stockyard baremetal-agent``, the manifest's
command line) against a running cloud: ``stockyard up`` on PostgreSQL + RabbitMQ keeps the
lab's BMC emulators and hwmgr but not their agent (``STOCKYARD_LAB_BAREMETAL_AGENT=false``),
and a baremetal server is built, rebooted and deleted through the separate agent."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from stockyard.db import testing as dbt
from tests.e2e.conftest import free_port, start_cloud, stop_cloud
from tests.topology.cluster import RABBIT_URL, VENV_BIN, delete_queues, require_services, role_args

DEMO = "stockyard"


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"baremetal-agent exited {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"baremetal-agent never ready:\n{log.read_text()}")


def test_a_baremetal_server_is_built_through_the_separate_agent(tmp_path: Path) -> None:
    require_services("postgresql")
    url = asyncio.run(dbt.create_database("postgresql", prefix="sytopo"))
    prefix = f"sytopo-{uuid.uuid4().hex[:10]}"
    backends = {
        "STOCKYARD_DATABASE_URL": url,
        "STOCKYARD_BUS_URL": RABBIT_URL,
        "STOCKYARD_BUS_PREFIX": prefix,
        "STOCKYARD_FAKE_BOOT_SECONDS": "0",
    }
    agent: subprocess.Popen[bytes] | None = None
    try:
        cloud = start_cloud(tmp_path, {**backends, "STOCKYARD_LAB_BAREMETAL_AGENT": "false"})
        try:
            endpoint = json.loads(
                (cloud.data_dir / "hwmgr" / "RegionOne" / "endpoint.json").read_text()
            )
            # The agent shares the bus and the image store (the data dir's images), nothing
            # else: no database URL in its environment.
            env = {k: v for k, v in os.environ.items() if not k.startswith(("STOCKYARD_", "OS_"))}
            env.update(
                STOCKYARD_BUS_URL=RABBIT_URL,
                STOCKYARD_BUS_PREFIX=prefix,
                STOCKYARD_DATA_DIR=str(cloud.data_dir),
                STOCKYARD_HWMGR_TOKEN=endpoint["token"],
            )
            health = free_port()
            args = role_args(
                "baremetal-agent",
                health_port=health,
                lab=tmp_path / "unused.yaml",
                region="RegionOne",
                hwmgr_url=endpoint["url"],
                image_port=free_port(),
            )
            log = tmp_path / "baremetal-agent.log"
            with log.open("wb") as out:
                agent = subprocess.Popen(
                    [str(VENV_BIN / "stockyard"), *args],
                    env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            _wait_ready(agent, health, log)

            cloud.os(
                "server", "create", "--flavor", "bm.gold", "--image", "stockyard-default",
                "--wait", "bm1", cloud=DEMO, timeout=300,
            )  # fmt: skip
            server = cloud.os_json("server", "show", "bm1", cloud=DEMO)
            assert server["status"] == "ACTIVE", server
            # The separate process did the work: it logged the build of this server.
            assert f"spawn {server['id']}" in log.read_text(), log.read_text()

            cloud.os("server", "reboot", "--hard", "--wait", "bm1", cloud=DEMO, timeout=300)
            assert cloud.os_json("server", "show", "bm1", cloud=DEMO)["status"] == "ACTIVE"
            cloud.os("server", "delete", "--wait", "bm1", cloud=DEMO, timeout=300)
            assert [
                s for s in cloud.os_json("server", "list", cloud=DEMO) if s["Name"] == "bm1"
            ] == []
        finally:
            if agent is not None and agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=20)
            stop_cloud(cloud)
    finally:
        asyncio.run(dbt.drop_database(url))
        delete_queues(prefix)
