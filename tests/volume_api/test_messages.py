"""User messages (3.3): a failed operation's reason, readable by the project's users."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import messages as schema

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, create_volume, vh, wait_status


async def test_failed_create_is_a_message_until_deleted(
    cloud: Cloud, volumes: VolumeService
) -> None:
    await cloud.client.post(
        f"{V3}/types",
        json={"volume_type": {"name": "far", "extra_specs": {"volume_backend_name": "nowhere"}}},
        headers=vh(cloud.admin_token),
    )
    vol = await create_volume(cloud, cloud.demo_token, volume_type="far")
    await wait_status(cloud, cloud.demo_token, f"{V3}/volumes/{vol['id']}", "volume", "error")
    h = vh(cloud.demo_token, "3.3")
    old = await cloud.client.get(f"{V3}/messages", headers=vh(cloud.demo_token, "3.2"))
    assert old.status_code == 404  # not there before 3.3, as in Cinder
    listed = conform(schema.list_messages, await cloud.client.get(f"{V3}/messages", headers=h))
    (message,) = listed["messages"]
    assert message["resource_uuid"] == vol["id"] and message["resource_type"] == "VOLUME"
    assert message["event_id"] == "VOLUME_VOLUME_001_003"
    assert message["user_message"] == (
        "schedule allocate volume: No valid backend was found: no volume backend named "
        "'nowhere' is served (served: file)."
    )
    path = f"{V3}/messages/{message['id']}"
    assert (
        conform(schema.show_message, await cloud.client.get(path, headers=h))["message"] == message
    )
    # Other projects do not see it.
    admin = await cloud.client.get(f"{V3}/messages", headers=vh(cloud.admin_token, "3.3"))
    assert admin.json()["messages"] == []
    filtered = await cloud.client.get(f"{V3}/messages?resource_uuid=nope", headers=h)
    assert filtered.json()["messages"] == []
    conform(schema.delete_message, await cloud.client.delete(path, headers=h))
    assert (await cloud.client.get(path, headers=h)).status_code == 404
    shown = await cloud.client.get(f"{V3}/volumes/{vol['id']}", headers=h)
    assert shown.json()["volume"]["status"] == "error"  # the status stays
