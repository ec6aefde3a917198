"""POST /v2/images: the body Glance returns, and 4xx naming the bad attribute."""

from __future__ import annotations

import re
import uuid

from tests.conftest import Cloud
from tests.image.helpers import V2, create

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def test_create_returns_glance_fields(cloud: Cloud) -> None:
    r = await cloud.client.post(
        f"{V2}/images",
        json={
            "name": "ubuntu",
            "disk_format": "qcow2",
            "container_format": "bare",
            "min_disk": 2,
            "tags": ["a", "b", "a"],
            "os_distro": "ubuntu",
        },
        headers=cloud.demo,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"].endswith(f"/image/v2/images/{body['id']}")
    uuid.UUID(body["id"])
    assert body["name"] == "ubuntu"
    assert body["status"] == "queued"
    assert body["visibility"] == "shared"
    assert body["protected"] is False
    assert body["owner"] == cloud.seeded.demo_project_id
    assert body["min_disk"] == 2 and body["min_ram"] == 0
    assert body["tags"] == ["a", "b"]
    assert body["os_distro"] == "ubuntu"
    for key in ("checksum", "os_hash_algo", "os_hash_value", "size", "virtual_size"):
        assert body[key] is None
    assert TIME.match(body["created_at"]) and TIME.match(body["updated_at"])
    assert body["self"] == f"/v2/images/{body['id']}"
    assert body["file"] == f"/v2/images/{body['id']}/file"
    assert body["schema"] == "/v2/schemas/image"


async def test_create_with_chosen_id_and_duplicate_is_409(cloud: Cloud) -> None:
    wanted = str(uuid.uuid4())
    image = await create(cloud, id=wanted, name="mine")
    assert image["id"] == wanted
    r = await cloud.client.post(f"{V2}/images", json={"id": wanted}, headers=cloud.demo)
    assert r.status_code == 409


async def test_bad_values_are_400_naming_the_attribute(cloud: Cloud) -> None:
    cases = [
        ({"disk_format": "floppy"}, "disk_format"),
        ({"container_format": "zip"}, "container_format"),
        ({"visibility": "everyone"}, "visibility"),
        ({"name": "x" * 256}, "name"),
        ({"min_ram": -1}, "min_ram"),
        ({"min_disk": "5"}, "min_disk"),
        ({"protected": "yes"}, "protected"),
        ({"tags": "a,b"}, "tags"),
        ({"id": "not-a-uuid"}, "id"),
        ({"os_distro": 7}, "os_distro"),
    ]
    for body, field in cases:
        r = await cloud.client.post(f"{V2}/images", json=body, headers=cloud.demo)
        assert r.status_code == 400, (body, r.text)
        assert field in r.json()["message"], (body, r.text)
    listed = (await cloud.client.get(f"{V2}/images", headers=cloud.demo)).json()
    assert listed["images"] == []


async def test_malformed_body_is_400(cloud: Cloud) -> None:
    h = {**cloud.demo, "Content-Type": "application/json"}
    r = await cloud.client.post(f"{V2}/images", content=b"{nope", headers=h)
    assert r.status_code == 400
    r = await cloud.client.post(f"{V2}/images", json=["a"], headers=cloud.demo)
    assert r.status_code == 400


async def test_read_only_and_reserved_attributes_are_403(cloud: Cloud) -> None:
    for key, value in [
        ("status", "active"),
        ("size", 5),
        ("checksum", "abc"),
        ("self", "/x"),
        ("location", "file:///etc/passwd"),
        ("deleted", True),
        ("os_glance_foo", "bar"),
    ]:
        r = await cloud.client.post(f"{V2}/images", json={key: value}, headers=cloud.demo)
        assert r.status_code == 403, key
        assert key in r.json()["message"]


async def test_public_visibility_needs_admin(cloud: Cloud) -> None:
    r = await cloud.client.post(f"{V2}/images", json={"visibility": "public"}, headers=cloud.demo)
    assert r.status_code == 403
    assert "visibility" in r.json()["message"]
    image = await create(cloud, cloud.admin, name="pub", visibility="public")
    assert image["visibility"] == "public"


async def test_member_cannot_create_for_another_project(cloud: Cloud) -> None:
    r = await cloud.client.post(
        f"{V2}/images", json={"owner": cloud.seeded.admin_project_id}, headers=cloud.demo
    )
    assert r.status_code == 403
    assert "owner" in r.json()["message"]


async def test_unauthenticated_is_401(cloud: Cloud) -> None:
    r = await cloud.client.get(f"{V2}/images")
    assert r.status_code == 401
    assert set(r.json()) == {"code", "title", "message"}


async def test_discovery_and_schema(cloud: Cloud) -> None:
    for path in ("/image", "/image/"):
        r = await cloud.client.get(path)
        assert r.status_code == 300
        current = r.json()["versions"][0]
        assert current["id"] == "v2.9" and current["status"] == "CURRENT"
        assert current["links"] == [{"rel": "self", "href": "http://127.0.0.1:8774/image/v2/"}]
    r = await cloud.client.get(f"{V2}/schemas/image", headers=cloud.demo)
    assert r.status_code == 200
    schema = r.json()
    assert schema["name"] == "image"
    assert "raw" in schema["properties"]["disk_format"]["enum"]
    r = await cloud.client.get(f"{V2}/info/import", headers=cloud.demo)
    assert r.json()["import-methods"]["value"] == []
