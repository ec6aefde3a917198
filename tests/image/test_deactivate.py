"""Deactivate/reactivate (owner project or admin) and the empty image id."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.image.helpers import V2, create, make_member, upload


async def test_owner_deactivates_and_only_admin_downloads(cloud: Cloud) -> None:
    image = await create(cloud, name="deact", visibility="private")
    await upload(cloud, image["id"], b"data")
    url = f"{V2}/images/{image['id']}"
    r = await cloud.client.post(f"{url}/actions/deactivate", headers=cloud.demo)
    assert r.status_code == 204, r.text
    assert (await cloud.client.get(url, headers=cloud.demo)).json()["status"] == "deactivated"
    r = await cloud.client.get(f"{url}/file", headers=cloud.demo)
    assert r.status_code == 403 and "deactivated" in r.json()["message"]
    assert (await cloud.client.get(f"{url}/file", headers=cloud.admin)).content == b"data"
    # Again: a no-op, as Glance.
    r = await cloud.client.post(f"{url}/actions/deactivate", headers=cloud.demo)
    assert r.status_code == 204
    r = await cloud.client.post(f"{url}/actions/reactivate", headers=cloud.demo)
    assert r.status_code == 204
    assert (await cloud.client.get(url, headers=cloud.demo)).json()["status"] == "active"
    assert (await cloud.client.get(f"{url}/file", headers=cloud.demo)).content == b"data"


async def test_other_projects_cannot_deactivate(cloud: Cloud) -> None:
    public = await create(cloud, cloud.admin, name="pub", visibility="public")
    await upload(cloud, public["id"], b"x", cloud.admin)
    private = await create(cloud, cloud.admin, name="priv", visibility="private")
    url = f"{V2}/images/{public['id']}/actions/deactivate"
    r = await cloud.client.post(url, headers=cloud.demo)
    assert r.status_code == 403
    r = await cloud.client.post(
        f"{V2}/images/{private['id']}/actions/deactivate", headers=cloud.demo
    )
    assert r.status_code == 404
    # The reader role is read-only whatever the image.
    reader = await make_member(cloud, "readers", role="reader")
    r = await cloud.client.post(url, headers=reader)
    assert r.status_code == 403
    shown = await cloud.client.get(f"{V2}/images/{public['id']}", headers=cloud.admin)
    assert shown.json()["status"] == "active"


async def test_deactivate_needs_an_active_image(cloud: Cloud) -> None:
    image = await create(cloud, name="queued")
    url = f"{V2}/images/{image['id']}/actions"
    r = await cloud.client.post(f"{url}/deactivate", headers=cloud.demo)
    assert r.status_code == 403 and "status 'queued'" in r.json()["message"]
    r = await cloud.client.post(f"{url}/reactivate", headers=cloud.demo)
    assert r.status_code == 403 and "status 'queued'" in r.json()["message"]


async def test_empty_image_id_is_404(cloud: Cloud) -> None:
    for method in ("GET", "DELETE"):
        r = await cloud.client.request(method, f"{V2}/images/", headers=cloud.demo)
        assert r.status_code == 404, (method, r.status_code)
    r = await cloud.client.get(f"{V2}/images", headers=cloud.demo)
    assert r.status_code == 200 and "images" in r.json()
