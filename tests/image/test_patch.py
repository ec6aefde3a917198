"""PATCH with Glance's JSON-patch media type, tags, and protected delete."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud
from tests.image.helpers import PATCH_TYPE, V2, create, patch, upload


async def test_patch_core_attributes_and_properties(cloud: Cloud) -> None:
    image = await create(cloud, name="before", os_distro="debian")
    r = await patch(
        cloud,
        image["id"],
        [
            {"op": "replace", "path": "/name", "value": "after"},
            {"op": "add", "path": "/min_ram", "value": 512},
            {"op": "add", "path": "/hw_disk_bus", "value": "virtio"},
            {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
            {"op": "add", "path": "/protected", "value": True},
            {"op": "add", "path": "/tags", "value": ["x", "y"]},
            {"op": "add", "path": "/a~1b", "value": "slash"},
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "after" and body["min_ram"] == 512 and body["protected"] is True
    assert body["hw_disk_bus"] == "virtio" and body["os_distro"] == "ubuntu"
    assert body["tags"] == ["x", "y"] and body["a/b"] == "slash"

    r = await patch(cloud, image["id"], [{"op": "remove", "path": "/hw_disk_bus"}])
    assert r.status_code == 200
    assert "hw_disk_bus" not in r.json()
    shown = (await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)).json()
    assert "hw_disk_bus" not in shown and shown["os_distro"] == "ubuntu"


async def test_bad_patch_changes_nothing(cloud: Cloud) -> None:
    image = await create(cloud, name="stable")
    cases: list[tuple[list[dict[str, Any]], int, str]] = [
        ([{"op": "replace", "path": "/min_disk", "value": "big"}], 400, "min_disk"),
        ([{"op": "replace", "path": "/status", "value": "active"}], 403, "status"),
        ([{"op": "remove", "path": "/name"}], 403, "name"),
        ([{"op": "replace", "path": "/nope", "value": "x"}], 409, "nope"),
        ([{"op": "remove", "path": "/nope"}], 409, "nope"),
        ([{"op": "move", "path": "/name"}], 400, "move"),
        ([{"op": "add", "path": "/prop"}], 400, "value"),
        ([{"op": "add", "path": "/prop", "value": 3}], 400, "prop"),
    ]
    for ops, status, word in cases:
        changed = [{"op": "replace", "path": "/name", "value": "changed"}, *ops]
        r = await patch(cloud, image["id"], changed)
        assert r.status_code == status, (ops, r.text)
        assert word in r.json()["message"], (ops, r.text)
    shown = (await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)).json()
    assert shown["name"] == "stable"


async def test_patch_needs_json_patch_media_type(cloud: Cloud) -> None:
    image = await create(cloud, name="typed")
    r = await cloud.client.patch(
        f"{V2}/images/{image['id']}",
        json=[{"op": "replace", "path": "/name", "value": "x"}],
        headers=cloud.demo,
    )
    assert r.status_code == 415


async def test_formats_fixed_once_data_uploaded(cloud: Cloud) -> None:
    image = await create(cloud, name="fmt")
    await upload(cloud, image["id"], b"data")
    r = await patch(
        cloud, image["id"], [{"op": "replace", "path": "/disk_format", "value": "qcow2"}]
    )
    assert r.status_code == 403
    assert "disk_format" in r.json()["message"]


async def test_tags(cloud: Cloud) -> None:
    image = await create(cloud, name="tagged")
    url = f"{V2}/images/{image['id']}"
    assert (await cloud.client.put(f"{url}/tags/fast", headers=cloud.demo)).status_code == 204
    assert (await cloud.client.put(f"{url}/tags/fast", headers=cloud.demo)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.demo)).json()["tags"] == ["fast"]
    assert (await cloud.client.delete(f"{url}/tags/fast", headers=cloud.demo)).status_code == 204
    assert (await cloud.client.delete(f"{url}/tags/fast", headers=cloud.demo)).status_code == 404
    assert (await cloud.client.get(url, headers=cloud.demo)).json()["tags"] == []
    r = await cloud.client.put(f"{url}/tags/{'t' * 256}", headers=cloud.demo)
    assert r.status_code == 400
    assert "tags" in r.json()["message"]


async def test_protected_image_cannot_be_deleted(cloud: Cloud) -> None:
    image = await create(cloud, name="keep", protected=True)
    url = f"{V2}/images/{image['id']}"
    r = await cloud.client.delete(url, headers=cloud.demo)
    assert r.status_code == 403
    assert "protected" in r.json()["message"]
    assert (await cloud.client.get(url, headers=cloud.demo)).status_code == 200
    await patch(cloud, image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert (await cloud.client.delete(url, headers=cloud.demo)).status_code == 204


async def test_glance_short_form_patch(cloud: Cloud) -> None:
    image = await create(cloud, name="short", os_distro="debian")
    ops = [
        {"replace": "/name", "value": "renamed"},
        {"add": "/hw_disk_bus", "value": "scsi"},
        {"remove": "/os_distro"},
    ]
    for media in ("application/openstack-images-v2.0-json-patch", PATCH_TYPE):
        h = {**cloud.demo, "Content-Type": media}
        r = await cloud.client.patch(f"{V2}/images/{image['id']}", json=ops[:2], headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["name"] == "renamed" and r.json()["hw_disk_bus"] == "scsi"
    r = await patch(cloud, image["id"], [ops[2]])
    assert r.status_code == 200 and "os_distro" not in r.json()


async def test_change_without_op_is_400_with_glance_message(cloud: Cloud) -> None:
    image = await create(cloud, name="noop")
    url = f"{V2}/images/{image['id']}"
    change = [{"path": "/name", "value": "x"}]
    r = await patch(cloud, image["id"], change)
    assert r.status_code == 400
    assert r.json()["message"].startswith("Unable to find `op` in JSON Schema change.")
    h = {**cloud.demo, "Content-Type": "application/openstack-images-v2.0-json-patch"}
    r = await cloud.client.patch(url, json=change, headers=h)
    assert r.status_code == 400
    assert "exactly one member named" in r.json()["message"]
    r = await patch(cloud, image["id"], [{"add": "/a", "remove": "/b", "value": "v"}])
    assert r.status_code == 400 and "only one member" in r.json()["message"]
    assert (await cloud.client.get(url, headers=cloud.demo)).json()["name"] == "noop"


async def test_protected_image_delete_with_short_form_unprotect(cloud: Cloud) -> None:
    image = await create(cloud, name="prot", protected=True)
    url = f"{V2}/images/{image['id']}"
    assert (await cloud.client.delete(url, headers=cloud.demo)).status_code == 403
    r = await patch(cloud, image["id"], [{"replace": "/protected", "value": False}])
    assert r.status_code == 200 and r.json()["protected"] is False
    assert (await cloud.client.delete(url, headers=cloud.demo)).status_code == 204
