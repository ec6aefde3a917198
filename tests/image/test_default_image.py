"""The default image registered at first start, and the compute-side lookup."""

from __future__ import annotations

import pytest

from stockyard.api.errors import APIError
from stockyard.api.image.access import get_visible_image
from stockyard.api.image.deps import get_store
from stockyard.image import DEFAULT_IMAGE_NAME, register_default_image
from tests.conftest import Cloud
from tests.image.helpers import V2, create, make_member


async def test_register_default_image_is_idempotent(cloud: Cloud) -> None:
    store = get_store(cloud.state)
    admin_project = cloud.seeded.admin_project_id
    async with cloud.state.db.session() as session:
        first = await register_default_image(session, store, admin_project)
    async with cloud.state.db.session() as session:
        second = await register_default_image(session, store, admin_project)
    assert first.id == second.id

    listed = (await cloud.client.get(f"{V2}/images", headers=cloud.demo)).json()["images"]
    assert [i["name"] for i in listed] == [DEFAULT_IMAGE_NAME]
    image = listed[0]
    assert image["status"] == "active" and image["visibility"] == "public"
    assert image["disk_format"] == "raw" and image["container_format"] == "bare"
    assert image["size"] == 1024 * 1024
    data = await cloud.client.get(f"{V2}/images/{image['id']}/file", headers=cloud.demo)
    assert len(data.content) == image["size"]
    assert data.headers["content-md5"] == image["checksum"]


async def test_get_visible_image_for_compute(cloud: Cloud) -> None:
    store = get_store(cloud.state)
    async with cloud.state.db.session() as session:
        default = await register_default_image(session, store, cloud.seeded.admin_project_id)
    queued = await create(cloud, name="queued", visibility="private")
    other = await make_member(cloud, "other")
    async with cloud.state.db.sessionmaker() as session:
        token = other["X-Auth-Token"]
        ctx = await cloud.state.tokens.validate(session, token)
        assert (await get_visible_image(session, ctx, default.id)).id == default.id
        with pytest.raises(APIError) as err:
            await get_visible_image(session, ctx, queued["id"])
        assert err.value.status == 400
        assert err.value.message == f"Image {queued['id']} could not be found."
        demo = await cloud.state.tokens.validate(session, cloud.demo_token)
        with pytest.raises(APIError) as err:
            await get_visible_image(session, demo, queued["id"])
        assert "not active" in err.value.message
        found = await get_visible_image(session, demo, queued["id"], require_active=False)
        assert found.id == queued["id"]
