"""Project isolation: another project's private images do not exist for you."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.image.helpers import V2, create, make_member, patch, upload


async def test_other_project_cannot_see_or_touch_private_image(cloud: Cloud) -> None:
    other = await make_member(cloud, "other")
    image = await create(cloud, name="secret", visibility="private")
    await upload(cloud, image["id"], b"top secret")
    url = f"{V2}/images/{image['id']}"

    assert (await cloud.client.get(url, headers=other)).status_code == 404
    assert (await cloud.client.get(f"{url}/file", headers=other)).status_code == 404
    assert (await cloud.client.delete(url, headers=other)).status_code == 404
    r = await patch(cloud, image["id"], [{"op": "replace", "path": "/name", "value": "x"}], other)
    assert r.status_code == 404
    tag = await cloud.client.put(f"{url}/tags/mine", headers=other)
    assert tag.status_code == 404
    listed = (await cloud.client.get(f"{V2}/images", headers=other)).json()["images"]
    assert listed == []
    by_owner = f"{V2}/images?owner={cloud.seeded.demo_project_id}&visibility=private"
    assert (await cloud.client.get(by_owner, headers=other)).json()["images"] == []
    # The owner still sees it unchanged; the admin sees it too.
    assert (await cloud.client.get(url, headers=cloud.demo)).json()["name"] == "secret"
    assert (await cloud.client.get(url, headers=cloud.admin)).status_code == 200


async def test_public_image_visible_but_not_modifiable_by_members(cloud: Cloud) -> None:
    image = await create(cloud, cloud.admin, name="pub", visibility="public")
    url = f"{V2}/images/{image['id']}"
    assert (await cloud.client.get(url, headers=cloud.demo)).status_code == 200
    listed = (await cloud.client.get(f"{V2}/images", headers=cloud.demo)).json()["images"]
    assert [i["id"] for i in listed] == [image["id"]]
    assert (await cloud.client.delete(url, headers=cloud.demo)).status_code == 403
    r = await patch(cloud, image["id"], [{"op": "replace", "path": "/name", "value": "x"}])
    assert r.status_code == 403


async def test_reader_cannot_write(cloud: Cloud) -> None:
    reader = await make_member(cloud, "readers", role="reader")
    r = await cloud.client.post(f"{V2}/images", json={"name": "x"}, headers=reader)
    assert r.status_code == 403
    assert (await cloud.client.get(f"{V2}/images", headers=reader)).status_code == 200


async def test_member_cannot_publish_own_image(cloud: Cloud) -> None:
    image = await create(cloud, name="mine")
    r = await patch(
        cloud, image["id"], [{"op": "replace", "path": "/visibility", "value": "public"}]
    )
    assert r.status_code == 403
    shown = await cloud.client.get(f"{V2}/images/{image['id']}", headers=cloud.demo)
    assert shown.json()["visibility"] == "shared"
