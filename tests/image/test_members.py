"""Image sharing: /v2/images/{id}/members as the owner, a member and a stranger see it."""

from __future__ import annotations

import pytest

from tests.conftest import Cloud
from tests.image.helpers import V2, create, make_member, upload


async def _ids(cloud: Cloud, headers: dict[str, str], query: str = "") -> list[str]:
    r = await cloud.client.get(f"{V2}/images{query}", headers=headers)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["images"]]


async def _add(cloud: Cloud, image_id: str, member: str) -> dict[str, str]:
    r = await cloud.client.post(
        f"{V2}/images/{image_id}/members", json={"member": member}, headers=cloud.demo
    )
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    return body


async def _answer(cloud: Cloud, image_id: str, member: str, h: dict[str, str], status: str) -> int:
    r = await cloud.client.put(
        f"{V2}/images/{image_id}/members/{member}", json={"status": status}, headers=h
    )
    return r.status_code


async def _project_of(cloud: Cloud, headers: dict[str, str]) -> str:
    r = await cloud.client.get(
        "/identity/v3/auth/tokens",
        headers={**headers, "X-Subject-Token": headers["X-Auth-Token"]},
    )
    project_id: str = r.json()["token"]["project"]["id"]
    return project_id


async def test_share_accept_list_show_remove(cloud: Cloud) -> None:
    alt = await make_member(cloud, "alt")
    alt_project = await _project_of(cloud, alt)
    image = await create(cloud, name="shared-one")
    await upload(cloud, image["id"], b"payload")
    url = f"{V2}/images/{image['id']}"

    member = await _add(cloud, image["id"], alt_project)
    assert member["member_id"] == alt_project and member["image_id"] == image["id"]
    assert member["status"] == "pending" and member["schema"] == "/v2/schemas/member"
    # Pending: readable by the member, but not in its default list.
    assert image["id"] not in await _ids(cloud, alt)
    assert (await cloud.client.get(url, headers=alt)).status_code == 200
    assert (await cloud.client.get(f"{url}/file", headers=alt)).content == b"payload"
    pending = await _ids(cloud, alt, "?visibility=shared&member_status=pending")
    assert pending == [image["id"]]

    assert await _answer(cloud, image["id"], alt_project, alt, "accepted") == 200
    assert image["id"] in await _ids(cloud, alt)
    assert await _ids(cloud, alt, "?visibility=shared") == [image["id"]]
    assert await _ids(cloud, alt, "?visibility=shared&member_status=pending") == []

    listed = (await cloud.client.get(f"{url}/members", headers=cloud.demo)).json()
    assert listed["schema"] == "/v2/schemas/members"
    assert [(m["member_id"], m["status"]) for m in listed["members"]] == [(alt_project, "accepted")]
    shown = await cloud.client.get(f"{url}/members/{alt_project}", headers=alt)
    assert shown.status_code == 200 and shown.json()["status"] == "accepted"

    r = await cloud.client.delete(f"{url}/members/{alt_project}", headers=cloud.demo)
    assert r.status_code == 204
    assert image["id"] not in await _ids(cloud, alt)
    assert (await cloud.client.get(url, headers=alt)).status_code == 404
    r = await cloud.client.delete(f"{url}/members/{alt_project}", headers=cloud.demo)
    assert r.status_code == 404


async def test_reject_hides_from_default_list(cloud: Cloud) -> None:
    alt = await make_member(cloud, "alt")
    alt_project = await _project_of(cloud, alt)
    image = await create(cloud, name="rejected")
    await _add(cloud, image["id"], alt_project)
    assert await _answer(cloud, image["id"], alt_project, alt, "rejected") == 200
    assert image["id"] not in await _ids(cloud, alt)
    assert await _ids(cloud, alt, "?visibility=shared&member_status=rejected") == [image["id"]]
    assert await _ids(cloud, alt, "?visibility=shared&member_status=all") == [image["id"]]
    r = await cloud.client.get(f"{V2}/images?member_status=maybe", headers=alt)
    assert r.status_code == 400


async def test_only_the_member_answers(cloud: Cloud) -> None:
    alt = await make_member(cloud, "alt")
    alt_project = await _project_of(cloud, alt)
    image = await create(cloud, name="answer")
    await _add(cloud, image["id"], alt_project)
    assert await _answer(cloud, image["id"], alt_project, cloud.demo, "accepted") == 403
    assert await _answer(cloud, image["id"], alt_project, alt, "notavalidstatus") == 400
    assert image["id"] not in await _ids(cloud, alt)
    r = await cloud.client.put(
        f"{V2}/images/{image['id']}/members/{alt_project}", json={}, headers=alt
    )
    assert r.status_code == 400 and r.json()["message"] == "Status not specified"
    assert await _answer(cloud, image["id"], alt_project, cloud.admin, "accepted") == 200


async def test_only_the_owner_adds_and_removes(cloud: Cloud) -> None:
    alt = await make_member(cloud, "alt")
    alt_project = await _project_of(cloud, alt)
    image = await create(cloud, name="owned")
    await _add(cloud, image["id"], alt_project)
    url = f"{V2}/images/{image['id']}/members"
    r = await cloud.client.post(url, json={"member": "someone"}, headers=alt)
    assert r.status_code == 403
    r = await cloud.client.delete(f"{url}/{alt_project}", headers=alt)
    assert r.status_code == 403
    r = await cloud.client.post(url, json={"member": alt_project}, headers=cloud.demo)
    assert r.status_code == 409 and "duplicated" in r.json()["message"]
    r = await cloud.client.post(url, json={}, headers=cloud.demo)
    assert r.status_code == 400 and r.json()["message"] == "Member to be added not specified"


async def test_member_sees_only_its_own_membership(cloud: Cloud) -> None:
    alt = await make_member(cloud, "alt")
    alt_project = await _project_of(cloud, alt)
    image = await create(cloud, name="two-members")
    await _add(cloud, image["id"], alt_project)
    await _add(cloud, image["id"], "other-project")
    url = f"{V2}/images/{image['id']}/members"
    owner_view = (await cloud.client.get(url, headers=cloud.demo)).json()["members"]
    assert sorted(m["member_id"] for m in owner_view) == sorted([alt_project, "other-project"])
    alt_view = (await cloud.client.get(url, headers=alt)).json()["members"]
    assert [m["member_id"] for m in alt_view] == [alt_project]
    assert (await cloud.client.get(f"{url}/other-project", headers=alt)).status_code == 404


async def test_strangers_get_404(cloud: Cloud) -> None:
    stranger = await make_member(cloud, "stranger")
    image = await create(cloud, name="secret")
    await _add(cloud, image["id"], "someone-else")
    url = f"{V2}/images/{image['id']}"
    assert (await cloud.client.get(url, headers=stranger)).status_code == 404
    assert (await cloud.client.get(f"{url}/members", headers=stranger)).status_code == 404
    r = await cloud.client.get(f"{url}/members/someone-else", headers=stranger)
    assert r.status_code == 404
    r = await cloud.client.post(f"{url}/members", json={"member": "x"}, headers=stranger)
    assert r.status_code == 404
    assert image["id"] not in await _ids(cloud, stranger, "?visibility=shared&member_status=all")


async def test_only_shared_images_take_members_and_share_only_while_shared(cloud: Cloud) -> None:
    alt = await make_member(cloud, "alt")
    alt_project = await _project_of(cloud, alt)
    private = await create(cloud, name="private", visibility="private")
    r = await cloud.client.post(
        f"{V2}/images/{private['id']}/members", json={"member": alt_project}, headers=cloud.demo
    )
    assert r.status_code == 403
    assert r.json()["message"] == f"Not allowed to create members for image {private['id']}."
    image = await create(cloud, name="was-shared")
    await _add(cloud, image["id"], alt_project)
    await _answer(cloud, image["id"], alt_project, alt, "accepted")
    h = {**cloud.demo, "Content-Type": "application/openstack-images-v2.1-json-patch"}
    r = await cloud.client.patch(
        f"{V2}/images/{image['id']}",
        json=[{"op": "replace", "path": "/visibility", "value": "private"}],
        headers=h,
    )
    assert r.status_code == 200
    assert (await cloud.client.get(f"{V2}/images/{image['id']}", headers=alt)).status_code == 404
    assert image["id"] not in await _ids(cloud, alt)


@pytest.mark.backend("sqlite", "postgresql", "mariadb")
async def test_deleting_the_image_deletes_its_members(cloud: Cloud) -> None:
    alt = await make_member(cloud, "alt")
    alt_project = await _project_of(cloud, alt)
    image = await create(cloud, name="gone")
    await _add(cloud, image["id"], alt_project)
    await _add(cloud, image["id"], "another")
    url = f"{V2}/images/{image['id']}"
    assert (await cloud.client.delete(url, headers=cloud.demo)).status_code == 204
    assert (await cloud.client.get(f"{url}/members", headers=cloud.demo)).status_code == 404
    again = await create(cloud, name="again", id=image["id"])
    r = await cloud.client.get(f"{V2}/images/{again['id']}/members", headers=cloud.demo)
    assert r.json()["members"] == []
    assert image["id"] not in await _ids(cloud, alt, "?visibility=shared&member_status=all")


async def test_member_schemas(cloud: Cloud) -> None:
    member = (await cloud.client.get(f"{V2}/schemas/member", headers=cloud.demo)).json()
    assert member["name"] == "member"
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    members = (await cloud.client.get(f"{V2}/schemas/members", headers=cloud.demo)).json()
    assert members["name"] == "members"
    assert members["properties"]["members"]["items"]["name"] == "member"
