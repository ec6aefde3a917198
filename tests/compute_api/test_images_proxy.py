"""Nova's image proxy: ``/images`` list, detail, filters, show, delete and metadata, over
the image store with the Image API's visibility."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stockyard.db.base import utcnow
from stockyard.db.models import Image
from tests.compute_api.helpers import V
from tests.conftest import Cloud


async def _image(cloud: Cloud, name: str, owner: str, **kw: Any) -> str:
    values: dict[str, Any] = {"status": "active", "visibility": "private", "size": 1024}
    values.update(kw)
    async with cloud.state.db.session() as session:
        image = Image(name=name, owner=owner, **values)
        session.add(image)
        await session.flush()
        return image.id


async def _get(cloud: Cloud, url: str, headers: dict[str, str] | None = None) -> Any:
    r = await cloud.client.get(url, headers=headers or cloud.demo)
    assert r.status_code == 200, r.text
    return r.json()


async def test_list_show_and_visibility(cloud: Cloud) -> None:
    demo, admin = cloud.seeded.demo_project_id, cloud.seeded.admin_project_id
    mine = await _image(cloud, "mine", demo, min_ram=64, min_disk=1)
    public = await _image(cloud, "pub", admin, visibility="public")
    hidden = await _image(cloud, "theirs", admin)
    queued = await _image(cloud, "q", demo, status="queued", size=None)
    listed = await _get(cloud, f"{V}/images")
    ids = {i["id"] for i in listed["images"]}
    assert ids == {mine, public, queued}
    assert all(set(i) == {"id", "name", "links"} for i in listed["images"])
    assert hidden in {i["id"] for i in (await _get(cloud, f"{V}/images", cloud.admin))["images"]}

    detail = {i["id"]: i for i in (await _get(cloud, f"{V}/images/detail"))["images"]}
    assert detail[mine]["status"] == "ACTIVE" and detail[mine]["progress"] == 100
    assert (detail[mine]["minRam"], detail[mine]["minDisk"]) == (64, 1)
    assert detail[mine]["OS-EXT-IMG-SIZE:size"] == 1024
    assert detail[queued]["status"] == "SAVING" and detail[queued]["progress"] == 25
    assert [link["rel"] for link in detail[mine]["links"]] == ["self", "bookmark", "alternate"]

    shown = (await _get(cloud, f"{V}/images/{mine}"))["image"]
    assert shown["id"] == mine and shown["metadata"] == {}
    for bad in (hidden, "nonexistent", "x" * 40):
        r = await cloud.client.get(f"{V}/images/{bad}", headers=cloud.demo)
        assert r.status_code == 404 and "itemNotFound" in r.json()


async def test_filters_and_paging(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    old = await _image(cloud, "alpha", demo, updated_at=utcnow() - timedelta(days=2))
    snap = await _image(
        cloud,
        "beta",
        demo,
        properties={"image_type": "snapshot", "instance_uuid": "srv-1", "auto_disk_config": "1"},
    )
    saving = await _image(cloud, "gamma", demo, status="saving", min_ram=2048)

    async def ids(query: str, detail: bool = False) -> list[str]:
        path = "images/detail" if detail else "images"
        return [i["id"] for i in (await _get(cloud, f"{V}/{path}?{query}"))["images"]]

    assert await ids("name=alpha") == [old]
    assert set(await ids("status=ACTIVE")) == {old, snap}
    assert await ids("status=SAVING", detail=True) == [saving]
    assert await ids("type=snapshot") == [snap]
    assert await ids("server=srv-1") == [snap]
    assert await ids("server=http://x/compute/v2.1/servers/srv-1", detail=True) == [snap]
    assert await ids("property-image_type=snapshot") == [snap]
    assert await ids("minRam=1024") == [saving]
    since = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert set(await ids(f"changes-since={since}")) == {snap, saving}

    shown = (await _get(cloud, f"{V}/images/{snap}"))["image"]
    assert shown["server"]["id"] == "srv-1" and shown["OS-DCF:diskConfig"] == "AUTO"

    first = await _get(cloud, f"{V}/images?limit=1")
    assert len(first["images"]) == 1
    marker = first["images"][0]["id"]
    assert f"marker={marker}" in first["images_links"][0]["href"]
    rest = await ids(f"marker={marker}")
    assert marker not in rest and len(rest) == 2
    bad = await cloud.client.get(f"{V}/images?marker=nope", headers=cloud.demo)
    assert bad.status_code == 400


async def test_delete(cloud: Cloud) -> None:
    demo, admin = cloud.seeded.demo_project_id, cloud.seeded.admin_project_id
    mine = await _image(cloud, "mine", demo)
    protected = await _image(cloud, "keep", demo, protected=True)
    public = await _image(cloud, "pub", admin, visibility="public")
    for bad in ("nonexistent", "", "-1", "x" * 37):
        r = await cloud.client.delete(f"{V}/images/{bad}", headers=cloud.demo)
        assert r.status_code == 404, (bad, r.status_code)
    for forbidden in (protected, public):
        r = await cloud.client.delete(f"{V}/images/{forbidden}", headers=cloud.demo)
        assert r.status_code == 403, r.text
    r = await cloud.client.delete(f"{V}/images/{mine}", headers=cloud.demo)
    assert r.status_code == 204
    gone = await cloud.client.get(f"{V}/images/{mine}", headers=cloud.demo)
    assert gone.status_code == 404


async def test_removed_microversions(cloud: Cloud) -> None:
    image = await _image(cloud, "mine", cloud.seeded.demo_project_id)
    at = cloud.headers(cloud.demo_token, "2.35")
    assert (await cloud.client.get(f"{V}/images", headers=at)).status_code == 200
    after = cloud.headers(cloud.demo_token, "2.36")
    for url in (f"{V}/images", f"{V}/images/detail", f"{V}/images/{image}"):
        assert (await cloud.client.get(url, headers=after)).status_code == 404
    meta = f"{V}/images/{image}/metadata"
    assert (await cloud.client.get(meta, headers=after)).status_code == 200
    gone = await cloud.client.get(meta, headers=cloud.headers(cloud.demo_token, "2.39"))
    assert gone.status_code == 404
