"""Nova's image metadata proxy: the image's custom properties."""

from __future__ import annotations

import uuid

from stockyard.db.models import Image
from tests.compute_api.helpers import V
from tests.conftest import Cloud


async def _image(cloud: Cloud, owner: str, visibility: str = "private") -> str:
    async with cloud.state.db.session() as session:
        image = Image(name="img", owner=owner, status="active", visibility=visibility)
        session.add(image)
        await session.flush()
        return image.id


async def test_metadata_lifecycle(cloud: Cloud) -> None:
    image = await _image(cloud, cloud.seeded.demo_project_id)
    url = f"{V}/images/{image}/metadata"
    h = cloud.demo
    put = await cloud.client.put(
        url, json={"metadata": {"os_version": "value1", "os_distro": "value2"}}, headers=h
    )
    assert put.status_code == 200
    assert put.json() == {"metadata": {"os_version": "value1", "os_distro": "value2"}}
    post = await cloud.client.post(
        url, json={"metadata": {"os_version": "alt1", "architecture": "value3"}}, headers=h
    )
    assert post.json()["metadata"] == {
        "os_version": "alt1",
        "os_distro": "value2",
        "architecture": "value3",
    }
    item = await cloud.client.get(f"{url}/os_distro", headers=h)
    assert item.json() == {"meta": {"os_distro": "value2"}}
    set_item = await cloud.client.put(
        f"{url}/os_version", json={"meta": {"os_version": "alt"}}, headers=h
    )
    assert set_item.status_code == 200 and set_item.json() == {"meta": {"os_version": "alt"}}
    deleted = await cloud.client.delete(f"{url}/architecture", headers=h)
    assert deleted.status_code == 204
    listed = await cloud.client.get(url, headers=h)
    assert listed.json() == {"metadata": {"os_version": "alt", "os_distro": "value2"}}
    # The same properties through the Image API.
    glance = await cloud.client.get(f"/image/v2/images/{image}", headers=h)
    assert glance.json()["os_version"] == "alt"
    replaced = await cloud.client.put(url, json={"metadata": {"k": "v"}}, headers=h)
    assert replaced.json() == {"metadata": {"k": "v"}}
    assert (await cloud.client.get(url, headers=h)).json() == {"metadata": {"k": "v"}}


async def test_metadata_errors(cloud: Cloud) -> None:
    image = await _image(cloud, cloud.seeded.demo_project_id)
    url = f"{V}/images/{image}/metadata"
    h = cloud.demo
    missing = f"{V}/images/{uuid.uuid4()}/metadata"
    calls = [
        ("GET", missing, None),
        ("POST", missing, {"metadata": {"a": "b"}}),
        ("PUT", missing, {"metadata": {"a": "b"}}),
        ("GET", f"{missing}/os_version", None),
        ("PUT", f"{missing}/os_distro", {"meta": {"os_distro": "alt"}}),
        ("DELETE", f"{missing}/os_distro", None),
        ("GET", f"{url}/nokey", None),
        ("DELETE", f"{url}/nokey", None),
    ]
    for method, target, body in calls:
        r = await cloud.client.request(method, target, json=body, headers=h)
        assert r.status_code == 404, (method, target, r.text)
    for target, body in (
        (url, {"metadata": {"a": 1}}),
        (url, {"meta": {"a": "b"}}),
        (f"{url}/a", {"meta": {"b": "c"}}),
        (f"{url}/a", {"meta": {"a": "b", "c": "d"}}),
    ):
        r = await cloud.client.put(target, json=body, headers=h)
        assert r.status_code == 400, (target, body, r.text)
    reserved = await cloud.client.post(url, json={"metadata": {"name": "x"}}, headers=h)
    assert reserved.status_code == 403
    public = await _image(cloud, cloud.seeded.admin_project_id, visibility="public")
    other = await cloud.client.post(
        f"{V}/images/{public}/metadata", json={"metadata": {"a": "b"}}, headers=h
    )
    assert other.status_code == 403
    readable = await cloud.client.get(f"{V}/images/{public}/metadata", headers=h)
    assert readable.status_code == 200
