"""Two deletes of one volume type at once: one 202, the other Cinder's itemNotFound, as a
delete of a missing type answers."""

from __future__ import annotations

import pytest

from stockyard.db.models import VolumeType
from tests.concurrent_deletes import deleted_once
from tests.conftest import Cloud
from tests.volume_api.helpers import V3


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_type_deleted_twice_at_once_is_deleted_once(cloud: Cloud) -> None:
    body = {"volume_type": {"name": "gold"}}
    r = await cloud.client.post(f"{V3}/types", json=body, headers=cloud.admin)
    assert r.status_code == 200, r.text
    type_id = r.json()["volume_type"]["id"]
    url = f"{V3}/types/{type_id}"
    where = VolumeType.id == type_id
    error = await deleted_once(cloud, url, VolumeType, where, headers=cloud.admin, ok=202)
    message = f"Volume type {type_id} could not be found."
    assert error == {"itemNotFound": {"code": 404, "message": message}}
