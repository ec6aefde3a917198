"""Two deletes of one image (or image member) at once: one 204, one Glance 404; the loser
removes no stored data."""

from __future__ import annotations

import pytest

from stockyard.api.image.deps import get_store
from stockyard.db.models import Image
from stockyard.db.models.image import ImageMember
from tests.concurrent_deletes import deleted_once
from tests.conftest import Cloud
from tests.image.helpers import V2, create, upload


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_an_image_deleted_twice_at_once_is_deleted_once(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = await create(cloud, name="twice")
    assert (await upload(cloud, image["id"], b"payload")).status_code == 204
    store = get_store(cloud.state)
    removed: list[str] = []
    remove = store.delete

    async def counted(location: str) -> None:
        removed.append(location)
        await remove(location)

    monkeypatch.setattr(store, "delete", counted)
    url = f"{V2}/images/{image['id']}"
    body = await deleted_once(cloud, url, Image, Image.id == image["id"])
    assert body == {
        "code": 404,
        "title": "Not Found",
        "message": f"No image found with ID {image['id']}",
    }
    assert len(removed) == 1  # the winner's; the loser touched no data
    assert not store.path_for(removed[0]).exists()


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_a_member_removed_twice_at_once_is_removed_once(cloud: Cloud) -> None:
    image = await create(cloud, name="shared")
    url = f"{V2}/images/{image['id']}/members"
    r = await cloud.client.post(url, json={"member": "other"}, headers=cloud.demo)
    assert r.status_code == 200, r.text
    where = (ImageMember.image_id == image["id"], ImageMember.member_id == "other")
    body = await deleted_once(cloud, f"{url}/other", ImageMember, *where)
    assert body["message"] == f"other not found in the member list of the image {image['id']}."
