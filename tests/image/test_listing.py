"""GET /v2/images: paging with marker/limit and ``next``, filters and sorting."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.conftest import Cloud
from tests.image.helpers import V2, create, upload


async def _list(cloud: Cloud, query: str = "", headers: dict[str, str] | None = None) -> Any:
    r = await cloud.client.get(f"{V2}/images{query}", headers=headers or cloud.demo)
    assert r.status_code == 200, r.text
    return r.json()


async def test_paging_follows_next_until_done(cloud: Cloud) -> None:
    made = {(await create(cloud, name=f"img-{i}"))["id"] for i in range(7)}
    seen: list[str] = []
    body = await _list(cloud, "?limit=3&sort_key=name&sort_dir=asc")
    pages = 1
    while True:
        seen += [i["id"] for i in body["images"]]
        if "next" not in body:
            break
        nxt = body["next"]
        assert nxt.startswith("/v2/images?")
        query = parse_qs(urlsplit(nxt).query)
        assert query["limit"] == ["3"] and query["sort_key"] == ["name"]
        body = await _list(cloud, nxt[len("/v2/images") :])
        pages += 1
    assert pages == 3
    assert len(seen) == 7 and set(seen) == made
    names = [
        (await cloud.client.get(f"{V2}/images/{i}", headers=cloud.demo)).json()["name"]
        for i in seen
    ]
    assert names == sorted(names)


async def test_paging_with_null_names_repeats_nothing(cloud: Cloud) -> None:
    for i in range(3):
        await create(cloud, name=None if i % 2 else f"n{i}")
    body = await _list(cloud, "?limit=1&sort_key=name&sort_dir=asc")
    ids = [body["images"][0]["id"]]
    while "next" in body:
        body = await _list(cloud, body["next"][len("/v2/images") :])
        ids += [i["id"] for i in body["images"]]
    assert len(ids) == len(set(ids)) == 3


async def test_default_order_is_newest_first(cloud: Cloud) -> None:
    first = await create(cloud, name="first")
    second = await create(cloud, name="second")
    ids = [i["id"] for i in (await _list(cloud))["images"]]
    assert ids.index(second["id"]) < ids.index(first["id"])


async def test_filters(cloud: Cloud) -> None:
    a = await create(cloud, name="alpha", tags=["gpu"])
    await upload(cloud, a["id"], b"12345")
    b = await create(cloud, name="beta", disk_format="qcow2", protected=True)
    pub = await create(cloud, cloud.admin, name="shared-pub", visibility="public")

    def ids(body: Any) -> set[str]:
        return {i["id"] for i in body["images"]}

    assert ids(await _list(cloud, "?name=alpha")) == {a["id"]}
    assert ids(await _list(cloud, "?status=active")) == {a["id"]}
    assert ids(await _list(cloud, "?disk_format=qcow2")) == {b["id"]}
    assert ids(await _list(cloud, "?protected=true")) == {b["id"]}
    assert ids(await _list(cloud, "?tag=gpu")) == {a["id"]}
    assert ids(await _list(cloud, "?size_min=5&size_max=5")) == {a["id"]}
    assert ids(await _list(cloud, "?visibility=public")) == {pub["id"]}
    own = f"?owner={cloud.seeded.demo_project_id}"
    assert ids(await _list(cloud, own)) == {a["id"], b["id"]}


async def test_bad_query_parameters_are_400(cloud: Cloud) -> None:
    for query, word in [
        ("?limit=-1", "limit"),
        ("?limit=x", "limit"),
        ("?sort_key=password", "sort_key"),
        ("?sort_dir=up", "sort_dir"),
        ("?visibility=galaxy", "visibility"),
        ("?marker=00000000-0000-0000-0000-000000000000", "Marker"),
    ]:
        r = await cloud.client.get(f"{V2}/images{query}", headers=cloud.demo)
        assert r.status_code == 400, query
        assert word in r.json()["message"]


async def test_hidden_images_listed_only_when_asked(cloud: Cloud) -> None:
    hidden = await create(cloud, name="hidden", os_hidden=True)
    assert hidden["id"] not in {i["id"] for i in (await _list(cloud))["images"]}
    assert [i["id"] for i in (await _list(cloud, "?os_hidden=true"))["images"]] == [hidden["id"]]


async def test_property_in_and_time_filters(cloud: Cloud) -> None:
    extra: dict[str, Any] = {"owner_specified.x": "1"}
    deb = await create(cloud, name="deb", os_distro="debian", **extra)
    ubu = await create(cloud, name="ubu", os_distro="ubuntu")

    def ids(body: Any) -> set[str]:
        return {i["id"] for i in body["images"]}

    assert ids(await _list(cloud, "?os_distro=debian")) == {deb["id"]}
    assert ids(await _list(cloud, "?owner_specified.x=1")) == {deb["id"]}
    assert ids(await _list(cloud, "?os_distro=arch")) == set()
    assert ids(await _list(cloud, "?name=in:deb,ubu")) == {deb["id"], ubu["id"]}
    created = deb["created_at"]
    assert ids(await _list(cloud, f"?created_at=gte:{created}")) == {deb["id"], ubu["id"]}
    assert ids(await _list(cloud, "?created_at=lt:2000-01-01T00:00:00Z")) == set()
    r = await cloud.client.get(f"{V2}/images?created_at=gte:yesterday", headers=cloud.demo)
    assert r.status_code == 400
    assert "created_at" in r.json()["message"]


async def test_filters_on_integer_and_hash_columns(cloud: Cloud) -> None:
    a = await create(cloud, name="five", min_ram=256)
    await upload(cloud, a["id"], b"12345")
    b = await create(cloud, name="three", min_disk=2)
    await upload(cloud, b["id"], b"123")
    shown = (await cloud.client.get(f"{V2}/images/{a['id']}", headers=cloud.demo)).json()

    def ids(body: Any) -> set[str]:
        return {i["id"] for i in body["images"]}

    assert ids(await _list(cloud, "?size=5")) == {a["id"]}
    assert ids(await _list(cloud, "?virtual_size=3")) == {b["id"]}
    assert ids(await _list(cloud, "?min_ram=256")) == {a["id"]}
    assert ids(await _list(cloud, "?min_disk=2")) == {b["id"]}
    assert ids(await _list(cloud, f"?checksum={shown['checksum']}")) == {a["id"]}
    assert ids(await _list(cloud, f"?os_hash_value={shown['os_hash_value']}")) == {a["id"]}
    r = await cloud.client.get(f"{V2}/images?size=big", headers=cloud.demo)
    assert r.status_code == 400
