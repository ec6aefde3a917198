"""``/volume/v3/extensions``: Cinder's descriptors of the APIs Stockyard serves, in the
shape Tempest checks, with and without the project in the path."""

from __future__ import annotations

from tempest.lib.api_schema.response.volume import extensions as schema

from stockyard.api.volume.extensions import EXTENSIONS
from tests.conftest import Cloud
from tests.volume_api.helpers import V3, conform, vh


async def test_list_is_what_is_served(cloud: Cloud) -> None:
    body = conform(
        schema.list_extensions,
        await cloud.client.get(f"{V3}/extensions", headers=vh(cloud.demo_token)),
    )
    aliases = [e["alias"] for e in body["extensions"]]
    assert aliases == sorted(e.alias for e in EXTENSIONS)
    assert {"os-volume-actions", "os-types-manage", "os-quota-sets"} <= set(aliases)
    # Cinder lists these, and Stockyard has none of their APIs.
    assert not {"os-hosts", "backups", "qos-specs", "os-volume-transfer"} & set(aliases)
    actions = next(e for e in body["extensions"] if e["alias"] == "os-volume-actions")
    assert actions["name"] == "VolumeActions" and actions["links"] == []


async def test_project_path_and_token(cloud: Cloud) -> None:
    me = await cloud.client.get("/identity/v3/auth/tokens", headers={
        "X-Auth-Token": cloud.demo_token, "X-Subject-Token": cloud.demo_token})  # fmt: skip
    pid = me.json()["token"]["project"]["id"]
    r = await cloud.client.get(f"{V3}/{pid}/extensions", headers=vh(cloud.demo_token))
    assert r.status_code == 200 and r.json()["extensions"]
    assert (await cloud.client.get(f"{V3}/extensions")).status_code == 401
