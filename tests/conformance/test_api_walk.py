"""Walk the compute and image calls at several microversions with the schema hook on.

The hook (tests/conformance/schemas.py) raises on the first response Tempest would refuse;
this test also checks that the responses were validated, not skipped.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from stockyard.db.models import Host, Image, Instance
from tests.conformance import schemas
from tests.conftest import Cloud

C = "/compute/v2.1"
# An ed25519 public key (2.92 requires one to create a keypair).
_PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl walk"
)
I2 = "/image/v2"


def _mv(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def _hook_on(cloud: Cloud) -> None:
    hooks = cloud.client.event_hooks
    if schemas.response_hook not in hooks["response"]:
        cloud.client.event_hooks = {
            "request": hooks["request"],
            "response": [*hooks["response"], schemas.response_hook],
        }


async def _ok(cloud: Cloud, method: str, url: str, h: dict[str, str], **kw: Any) -> Any:
    r = await cloud.client.request(method, url, headers=h, **kw)
    assert r.status_code < 300, f"{method} {url}: {r.status_code} {r.text}"
    return r.json() if r.content and "json" in r.headers.get("content-type", "") else None


@pytest.mark.parametrize(
    "mv",
    [
        "2.1",
        "2.3",
        "2.11",
        "2.28",
        "2.33",
        "2.47",
        "2.53",
        "2.57",
        "2.63",
        "2.71",
        "2.73",
        "2.79",
        "2.80",
        "2.81",
        "2.82",
        "2.83",
        "2.84",
        "2.86",
        "2.88",
        "2.90",
        "2.92",
        "2.94",
        "2.96",
    ],
)
async def test_compute_walk(cloud: Cloud, mv: str) -> None:
    _hook_on(cloud)
    schemas.VALIDATED.clear()
    a = cloud.headers(cloud.admin_token, mv)
    async with cloud.state.db.session() as session:
        image = Image(
            name="walk",
            status="active",
            visibility="public",
            disk_format="raw",
            container_format="bare",
            size=10,
            owner=cloud.seeded.admin_project_id,
        )
        session.add(image)
        session.add(
            Host(
                name="walk-h",
                region="RegionOne",
                az="az1",
                rack="r1",
                vcpus=16,
                memory_mb=32768,
                local_gb=200,
            )
        )
        await session.flush()
        image_id = image.id

    flavor = {"name": "walk.small", "ram": 512, "vcpus": 1, "disk": 1, "id": "walk1"}
    await _ok(cloud, "POST", f"{C}/flavors", a, json={"flavor": flavor})
    await _ok(cloud, "GET", f"{C}/flavors", a)
    await _ok(cloud, "GET", f"{C}/flavors/detail", a)
    await _ok(cloud, "GET", f"{C}/flavors/walk1", a)
    specs = f"{C}/flavors/walk1/os-extra_specs"
    await _ok(cloud, "POST", specs, a, json={"extra_specs": {"hw:cpu_policy": "shared"}})
    await _ok(cloud, "GET", specs, a)
    await _ok(cloud, "PUT", f"{specs}/hw:cpu_policy", a, json={"hw:cpu_policy": "dedicated"})
    await _ok(cloud, "GET", f"{specs}/hw:cpu_policy", a)
    await _ok(cloud, "DELETE", f"{specs}/hw:cpu_policy", a)

    kp_body: dict[str, Any] = {"name": "walk"}
    if _mv(mv) >= (2, 92):  # no server-side generation any more
        kp_body["public_key"] = _PUBLIC_KEY
    kp = await _ok(cloud, "POST", f"{C}/os-keypairs", a, json={"keypair": kp_body})
    assert kp["keypair"]["name"] == "walk"
    await _ok(cloud, "GET", f"{C}/os-keypairs", a)
    await _ok(cloud, "GET", f"{C}/os-keypairs/walk", a)

    group = await _ok(
        cloud,
        "POST",
        f"{C}/os-server-groups",
        a,
        # 2.64 replaced the policies list with one policy.
        json={"server_group": {"name": "g", "policies": ["anti-affinity"]}}
        if _mv(mv) < (2, 64)
        else {"server_group": {"name": "g", "policy": "anti-affinity"}},
    )
    gid = group["server_group"]["id"]
    await _ok(cloud, "GET", f"{C}/os-server-groups", a)
    await _ok(cloud, "GET", f"{C}/os-server-groups/{gid}", a)

    server = {"name": "walk", "flavorRef": "walk1", "imageRef": image_id, "networks": "none"}
    if _mv(mv) >= (2, 90):
        server["hostname"] = "walk.example.org" if _mv(mv) >= (2, 94) else "walk-host"
    body: dict[str, Any] = {"server": server, "os:scheduler_hints": {"group": gid}}
    created = await _ok(cloud, "POST", f"{C}/servers", a, json=body)
    sid = created["server"]["id"]
    async with cloud.state.db.session() as session:
        await session.execute(
            update(Instance)
            .where(Instance.uuid == sid)
            .values(vm_state="active", task_state=None, power_state=1, host="walk-h", node="walk-h")
        )
        await session.commit()
    await _ok(cloud, "GET", f"{C}/servers", a)
    await _ok(cloud, "GET", f"{C}/servers/detail", a)
    await _ok(cloud, "GET", f"{C}/servers/{sid}", a)
    await _ok(cloud, "PUT", f"{C}/servers/{sid}", a, json={"server": {"name": "walk2"}})
    await _ok(cloud, "GET", f"{C}/servers/{sid}/ips", a)
    meta = f"{C}/servers/{sid}/metadata"
    await _ok(cloud, "PUT", meta, a, json={"metadata": {"a": "1"}})
    await _ok(cloud, "POST", meta, a, json={"metadata": {"b": "2"}})
    await _ok(cloud, "GET", meta, a)
    await _ok(cloud, "PUT", f"{meta}/c", a, json={"meta": {"c": "3"}})
    await _ok(cloud, "DELETE", f"{meta}/c", a)
    actions = await _ok(cloud, "GET", f"{C}/servers/{sid}/os-instance-actions", a)
    req_id = actions["instanceActions"][0]["request_id"]
    await _ok(cloud, "GET", f"{C}/servers/{sid}/os-instance-actions/{req_id}", a)
    act = f"{C}/servers/{sid}/action"
    lock: Any = {"locked_reason": "walk"} if _mv(mv) >= (2, 73) else None
    await _ok(cloud, "POST", act, a, json={"lock": lock})
    locked = await _ok(cloud, "GET", f"{C}/servers/{sid}", a)
    assert _mv(mv) < (2, 9) or locked["server"]["locked"] is True
    await _ok(cloud, "GET", f"{C}/servers/detail?locked=true", a)
    if _mv(mv) >= (2, 83):
        d = cloud.headers(cloud.demo_token, mv)
        await _ok(cloud, "GET", f"{C}/servers/detail?vm_state=active&power_state=1", d)
    await _ok(cloud, "POST", act, a, json={"unlock": None})
    events = [{"name": "network-changed", "server_uuid": sid}]
    if _mv(mv) >= (2, 82):
        events.append({"name": "accelerator-request-bound", "server_uuid": sid, "tag": "arq"})
    await _ok(cloud, "POST", f"{C}/os-server-external-events", a, json={"events": events})
    rebuilt = await _ok(
        cloud, "POST", f"{C}/servers/{sid}/action", a, json={"rebuild": {"imageRef": image_id}}
    )
    assert rebuilt["server"]["adminPass"]

    await _ok(cloud, "GET", f"{C}/os-availability-zone", a)
    await _ok(cloud, "GET", f"{C}/os-availability-zone/detail", a)
    await _ok(cloud, "GET", f"{C}/os-hypervisors", a)
    hypervisors = await _ok(cloud, "GET", f"{C}/os-hypervisors/detail", a)
    assert hypervisors["hypervisors"], "a hypervisor to validate"
    hv_id = hypervisors["hypervisors"][0]["id"]
    await _ok(cloud, "GET", f"{C}/os-hypervisors/{hv_id}", a)
    await _ok(cloud, "GET", f"{C}/os-services", a)
    await _ok(cloud, "GET", f"{C}/os-migrations", a)
    await _ok(cloud, "GET", f"{C}/os-quota-class-sets/default", a)
    await _ok(cloud, "GET", "/compute/", a)
    await _ok(cloud, "GET", f"{C}/", a)
    await _ok(cloud, "GET", f"{C}/limits", a)
    project = cloud.seeded.demo_project_id
    await _ok(cloud, "GET", f"{C}/os-quota-sets/{project}", a)
    await _ok(cloud, "GET", f"{C}/os-quota-sets/{project}/defaults", a)
    await _ok(cloud, "GET", f"{C}/os-quota-sets/{project}/detail", a)
    await _ok(cloud, "PUT", f"{C}/os-quota-sets/{project}", a, json={"quota_set": {"cores": 40}})
    await _ok(cloud, "DELETE", f"{C}/os-quota-sets/{project}", a)

    agg = await _ok(cloud, "POST", f"{C}/os-aggregates", a, json={"aggregate": {"name": "ag"}})
    agg_id = agg["aggregate"]["id"]
    await _ok(cloud, "GET", f"{C}/os-aggregates", a)
    await _ok(cloud, "GET", f"{C}/os-aggregates/{agg_id}", a)
    await _ok(cloud, "PUT", f"{C}/os-aggregates/{agg_id}", a, json={"aggregate": {"name": "b"}})
    await _ok(
        cloud,
        "POST",
        f"{C}/os-aggregates/{agg_id}/action",
        a,
        json={"set_metadata": {"metadata": {"k": "v"}}},
    )
    if _mv(mv) >= (2, 81):
        cache = {"cache": [{"id": image_id}]}
        await _ok(cloud, "POST", f"{C}/os-aggregates/{agg_id}/images", a, json=cache)
    await _ok(cloud, "DELETE", f"{C}/os-aggregates/{agg_id}", a)

    await _ok(cloud, "DELETE", f"{C}/servers/{sid}", a)
    await _ok(cloud, "DELETE", f"{C}/os-server-groups/{gid}", a)
    await _ok(cloud, "DELETE", f"{C}/os-keypairs/walk", a)
    await _ok(cloud, "DELETE", f"{C}/flavors/walk1", a)

    names = " ".join(schemas.VALIDATED)
    for schema in ("get_server", "update_server", "rebuild_server_with_admin_pass"):
        assert schema in names, schemas.VALIDATED
    assert len(schemas.VALIDATED) >= 45, schemas.VALIDATED


async def test_image_walk(cloud: Cloud) -> None:
    _hook_on(cloud)
    schemas.VALIDATED.clear()
    h = cloud.admin
    img = await _ok(
        cloud,
        "POST",
        f"{I2}/images",
        h,
        json={"name": "w", "disk_format": "raw", "container_format": "bare"},
    )
    iid = img["id"]
    await _ok(cloud, "GET", f"{I2}/images", h)
    await _ok(cloud, "GET", f"{I2}/images/{iid}", h)
    patch = [{"op": "replace", "path": "/name", "value": "w2"}]
    patch_type = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    await _ok(cloud, "PATCH", f"{I2}/images/{iid}", {**h, **patch_type}, json=patch)
    await _ok(cloud, "PUT", f"{I2}/images/{iid}/tags/t", h)
    await _ok(cloud, "DELETE", f"{I2}/images/{iid}/tags/t", h)
    octet = {"Content-Type": "application/octet-stream"}
    await _ok(cloud, "PUT", f"{I2}/images/{iid}/file", {**h, **octet}, content=b"x" * 10)
    await _ok(cloud, "GET", f"{I2}/images/{iid}/file", h)
    await _ok(cloud, "POST", f"{I2}/images/{iid}/actions/deactivate", h)
    await _ok(cloud, "POST", f"{I2}/images/{iid}/actions/reactivate", h)
    await _ok(cloud, "GET", f"{I2}/schemas/image", h)
    await _ok(cloud, "DELETE", f"{I2}/images/{iid}", h)
    assert len(schemas.VALIDATED) >= 11, schemas.VALIDATED
