"""Two deletes of one node at once: one 204, the other hwmgr's 404, as a delete of a
missing node answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from stockyard.hwmgr.db.models import Node
from tests.concurrent_deletes import deleted_once_at
from tests.hwmgr.conftest import ImageServer, start_lab, stop_lab
from tests.hwmgr.fakes import FakeFleet


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_node_deleted_twice_at_once_is_deleted_once(
    db_url: str, tmp_path: Path, image_server: ImageServer
) -> None:
    key = Fernet.generate_key().decode()
    lab = await start_lab(tmp_path / "hwmgr", key, FakeFleet(), image_server, database_url=db_url)
    try:
        node = await lab.enroll("n1")
        assert lab.service.state is not None
        url = f"/v1/nodes/{node['uuid']}"
        where = Node.uuid == node["uuid"]
        body = await deleted_once_at(lab.service.state.db, lab.client, url, Node, where)
        message = f"node {node['uuid']} not found"
        assert body == {"error": {"code": "not_found", "message": message}}
    finally:
        await stop_lab(lab)
