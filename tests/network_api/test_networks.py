"""Networks: versions, extensions, CRUD, provider attributes, visibility, NetworkInUse."""

from __future__ import annotations

from tests.compute_api.helpers import add_host
from tests.conftest import Cloud
from tests.network_api.helpers import V2, create, neutron_error


async def test_version_document_and_extensions(cloud: Cloud) -> None:
    root = await cloud.client.get("/network/")
    assert root.status_code == 200
    (version,) = root.json()["versions"]
    assert version["id"] == "v2.0" and version["status"] == "CURRENT"
    assert version["links"][0]["href"].endswith("/network/v2.0/")
    ext = await cloud.client.get(f"{V2}/extensions", headers=cloud.demo)
    aliases = {e["alias"] for e in ext.json()["extensions"]}
    assert {"provider", "external-net", "security-group", "quotas", "pagination"} <= aliases
    assert "router" not in aliases and "floatingip" not in aliases
    one = await cloud.client.get(f"{V2}/extensions/provider", headers=cloud.demo)
    assert one.json()["extension"]["name"] == "Provider Network"
    missing = await cloud.client.get(f"{V2}/extensions/router", headers=cloud.demo)
    assert missing.status_code == 404 and "NeutronError" in missing.json()
    assert (await cloud.client.get(f"{V2}/networks")).status_code == 401


async def test_network_crud_and_shape(cloud: Cloud) -> None:
    net = await create(cloud, "network", cloud.demo, name="private", description="d")
    assert net["status"] == "ACTIVE" and net["admin_state_up"] is True
    assert net["shared"] is False and net["router:external"] is False
    assert net["mtu"] == 1500 and net["subnets"] == [] and net["revision_number"] == 1
    assert net["project_id"] == net["tenant_id"] == cloud.seeded.demo_project_id
    assert net["created_at"].endswith("Z")
    assert "provider:network_type" not in net  # admin-only attributes
    url = f"{V2}/networks/{net['id']}"
    upd = await cloud.client.put(url, json={"network": {"name": "renamed"}}, headers=cloud.demo)
    assert upd.json()["network"]["name"] == "renamed"
    assert upd.json()["network"]["revision_number"] == 2
    shown = await cloud.client.get(url, params={"fields": "name"}, headers=cloud.demo)
    assert shown.json() == {"network": {"name": "renamed"}}
    bad = await cloud.client.put(url, json={"network": {"status": "DOWN"}}, headers=cloud.demo)
    assert "read-only" in neutron_error(bad, 400, "HTTPBadRequest")
    unknown = await cloud.client.post(
        f"{V2}/networks", json={"network": {"colour": "red"}}, headers=cloud.demo
    )
    assert neutron_error(unknown, 400, "HTTPBadRequest") == "Unrecognized attribute(s) 'colour'"
    assert (await cloud.client.delete(url, headers=cloud.demo)).status_code == 204
    gone = await cloud.client.get(url, headers=cloud.demo)
    assert neutron_error(gone, 404, "NetworkNotFound") == f"Network {net['id']} could not be found."


async def test_provider_attributes_are_admin_only_and_validated(cloud: Cloud) -> None:
    attrs = {"provider:network_type": "vlan", "provider:physical_network": "physnet1"}
    denied = await cloud.client.post(
        f"{V2}/networks",
        json={"network": {**attrs, "provider:segmentation_id": 10}},
        headers=cloud.demo,
    )
    neutron_error(denied, 403, "PolicyNotAuthorized")
    vlan = await create(cloud, "network", cloud.admin, **attrs, **{"provider:segmentation_id": 10})
    assert vlan["provider:network_type"] == "vlan" and vlan["provider:segmentation_id"] == 10
    again = await cloud.client.post(
        f"{V2}/networks",
        json={"network": {**attrs, "provider:segmentation_id": 10}},
        headers=cloud.admin,
    )
    assert "VLAN 10 on physical network physnet1" in neutron_error(again, 409, "VlanIdInUse")
    for seg in (0, 4095):
        out = await cloud.client.post(
            f"{V2}/networks",
            json={"network": {**attrs, "provider:segmentation_id": seg}},
            headers=cloud.admin,
        )
        assert "out of range (1 through 4094)" in neutron_error(out, 400, "InvalidInput")
    flat = {"provider:network_type": "flat", "provider:physical_network": "lab"}
    await create(cloud, "network", cloud.admin, **flat)
    dup = await cloud.client.post(f"{V2}/networks", json={"network": flat}, headers=cloud.admin)
    neutron_error(dup, 409, "FlatNetworkInUse")
    vxlan = await cloud.client.post(
        f"{V2}/networks",
        json={"network": {"provider:network_type": "vxlan"}},
        headers=cloud.admin,
    )
    neutron_error(vxlan, 400, "InvalidInput")
    big = await cloud.client.post(
        f"{V2}/networks", json={"network": {"mtu": 9000}}, headers=cloud.demo
    )
    assert "MTU is too big" in neutron_error(big, 400, "InvalidInput")


async def test_visibility_shared_external_and_other_projects(cloud: Cloud) -> None:
    private = await create(cloud, "network", cloud.admin, name="admin-private")
    shared = await create(cloud, "network", cloud.admin, name="pub", shared=True)
    ext = await create(cloud, "network", cloud.admin, name="ext", **{"router:external": True})
    listed = await cloud.client.get(f"{V2}/networks", headers=cloud.demo)
    names = {n["name"] for n in listed.json()["networks"]}
    assert names == {"pub", "ext"}
    hidden = await cloud.client.get(f"{V2}/networks/{private['id']}", headers=cloud.demo)
    neutron_error(hidden, 404, "NetworkNotFound")
    nope = await cloud.client.delete(f"{V2}/networks/{shared['id']}", headers=cloud.demo)
    neutron_error(nope, 404, "NetworkNotFound")
    denied = await cloud.client.post(
        f"{V2}/networks", json={"network": {"shared": True}}, headers=cloud.demo
    )
    neutron_error(denied, 403, "PolicyNotAuthorized")
    other = await cloud.client.post(
        f"{V2}/networks",
        json={"network": {"project_id": cloud.seeded.admin_project_id}},
        headers=cloud.demo,
    )
    neutron_error(other, 400, "HTTPBadRequest")
    ext_filter = await cloud.client.get(
        f"{V2}/networks", params={"router:external": "true"}, headers=cloud.admin
    )
    assert [n["id"] for n in ext_filter.json()["networks"]] == [ext["id"]]


async def test_delete_network_with_ports_is_network_in_use(cloud: Cloud) -> None:
    net = await create(cloud, "network", cloud.demo, name="busy")
    sub = await create(
        cloud, "subnet", cloud.demo, network_id=net["id"], ip_version=4, cidr="10.9.0.0/24"
    )
    port = await create(cloud, "port", cloud.demo, network_id=net["id"])
    busy = await cloud.client.delete(f"{V2}/networks/{net['id']}", headers=cloud.demo)
    assert neutron_error(busy, 409, "NetworkInUse") == (
        f"Unable to complete operation on network {net['id']}. "
        "There are one or more ports still in use on the network."
    )
    shown = await cloud.client.get(f"{V2}/networks/{net['id']}", headers=cloud.demo)
    assert shown.json()["network"]["subnets"] == [sub["id"]]
    assert (
        await cloud.client.delete(f"{V2}/ports/{port['id']}", headers=cloud.demo)
    ).status_code == 204
    assert (
        await cloud.client.delete(f"{V2}/networks/{net['id']}", headers=cloud.demo)
    ).status_code == 204
    gone = await cloud.client.get(f"{V2}/subnets/{sub['id']}", headers=cloud.demo)
    neutron_error(gone, 404, "SubnetNotFound")


async def test_list_filters_by_several_values_and_sorts(cloud: Cloud) -> None:
    a = await create(cloud, "network", cloud.demo, name="a")
    b = await create(cloud, "network", cloud.demo, name="b")
    await create(cloud, "network", cloud.demo, name="c")
    params = [("id", a["id"]), ("id", b["id"]), ("sort_key", "name"), ("sort_dir", "desc")]
    listed = await cloud.client.get(f"{V2}/networks", params=params, headers=cloud.demo)
    assert [n["name"] for n in listed.json()["networks"]] == ["b", "a"]
    by_name = await cloud.client.get(f"{V2}/networks", params={"name": "c"}, headers=cloud.demo)
    assert [n["name"] for n in by_name.json()["networks"]] == ["c"]
    bad = await cloud.client.get(f"{V2}/networks", params={"sort_key": "nope"}, headers=cloud.demo)
    neutron_error(bad, 400, "HTTPBadRequest")


async def test_availability_zone_hints_name_known_zones(cloud: Cloud) -> None:
    await add_host(cloud, "hv1", az="az-east")
    net = await create(cloud, "network", cloud.demo, availability_zone_hints=["az-east"])
    assert net["availability_zone_hints"] == ["az-east"]
    unknown = await cloud.client.post(
        f"{V2}/networks",
        json={"network": {"availability_zone_hints": ["mars"]}},
        headers=cloud.demo,
    )
    assert neutron_error(unknown, 404, "AvailabilityZoneNotFound") == (
        "AvailabilityZone mars could not be found."
    )


async def test_availability_zones_list(cloud: Cloud) -> None:
    await add_host(cloud, "hv1", az="az-b")
    await add_host(cloud, "hv2", az="az-a")
    listed = await cloud.client.get(f"{V2}/availability_zones", headers=cloud.demo)
    assert listed.json()["availability_zones"] == [
        {"name": "az-a", "resource": "network", "state": "available"},
        {"name": "az-b", "resource": "network", "state": "available"},
    ]


async def test_unknown_paths_and_methods_answer_neutron_errors(cloud: Cloud) -> None:
    # No route serves these, so the app's handlers answer; clients still parse NeutronError.
    routers = await cloud.client.get(f"{V2}/routers", headers=cloud.demo)
    assert "/network/v2.0/routers" in neutron_error(routers, 404, "HTTPNotFound")
    collection = await cloud.client.delete(f"{V2}/networks", headers=cloud.demo)
    neutron_error(collection, 405, "HTTPMethodNotAllowed")


async def test_boolean_and_integer_filters_convert_as_neutron(cloud: Cloud) -> None:
    await create(cloud, "network", cloud.demo, name="up", mtu=1400)
    await create(cloud, "network", cloud.demo, name="down", admin_state_up=False)

    async def names(**params: str) -> list[str]:
        resp = await cloud.client.get(f"{V2}/networks", params=params, headers=cloud.demo)
        assert resp.status_code == 200, resp.text
        return sorted(n["name"] for n in resp.json()["networks"])

    assert await names(admin_state_up="0") == ["down"]
    assert await names(admin_state_up="False") == ["down"]
    assert await names(admin_state_up="1", mtu="1400") == ["up"]
    assert await names(mtu="01400") == ["up"]
    bad = await cloud.client.get(
        f"{V2}/networks", params={"admin_state_up": "maybe"}, headers=cloud.demo
    )
    assert neutron_error(bad, 400, "HTTPBadRequest") == (
        "Invalid input for operation: 'maybe' cannot be converted to boolean."
    )
    nan = await cloud.client.get(f"{V2}/networks", params={"mtu": "big"}, headers=cloud.demo)
    assert neutron_error(nan, 400, "HTTPBadRequest") == (
        "Invalid input for operation: 'big' is not an integer."
    )
