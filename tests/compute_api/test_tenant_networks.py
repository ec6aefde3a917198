"""Nova's ``/os-tenant-networks`` over the Networking v2 networks the caller sees."""

from __future__ import annotations

from tests.compute_api.helpers import V
from tests.conftest import Cloud
from tests.network_api.helpers import create

URL = f"{V}/os-tenant-networks"


async def test_list_show_and_gone(cloud: Cloud) -> None:
    mine = await create(cloud, "network", cloud.demo, name="mine")
    shared = await create(cloud, "network", cloud.admin, name="shared", shared=True)
    private = await create(cloud, "network", cloud.admin, name="private")
    r = await cloud.client.get(URL, headers=cloud.demo)
    assert r.status_code == 200, r.text
    listed = {n["id"]: n for n in r.json()["networks"]}
    assert listed[mine["id"]] == {"id": mine["id"], "cidr": "None", "label": "mine"}
    assert shared["id"] in listed and private["id"] not in listed
    r = await cloud.client.get(URL, headers=cloud.admin)
    assert private["id"] in {n["id"] for n in r.json()["networks"]}

    r = await cloud.client.get(f"{URL}/{shared['id']}", headers=cloud.demo)
    assert r.json() == {"network": {"id": shared["id"], "cidr": "None", "label": "shared"}}
    r = await cloud.client.get(f"{URL}/{private['id']}", headers=cloud.demo)
    assert r.status_code == 404
    assert r.json() == {"itemNotFound": {"code": 404, "message": "Network not found"}}

    # Nova with Neutron: create and delete are gone (410) at every version.
    gone = "This resource is no longer available.  No forwarding address is given."
    for mv in ("2.1", "2.90"):
        h = cloud.headers(cloud.demo_token, mv)
        r = await cloud.client.post(URL, json={"network": {"label": "x"}}, headers=h)
        assert r.status_code == 410 and r.json()["computeFault"]["message"] == gone
        r = await cloud.client.delete(f"{URL}/{mine['id']}", headers=h)
        assert r.status_code == 410
    # List and show went at 2.36.
    h = cloud.headers(cloud.demo_token, "2.36")
    assert (await cloud.client.get(URL, headers=h)).status_code == 404
    assert (await cloud.client.get(f"{URL}/{mine['id']}", headers=h)).status_code == 404
