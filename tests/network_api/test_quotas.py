"""Networking quotas: show, update, details, reset and enforcement."""

from __future__ import annotations

from tests.conftest import Cloud
from tests.network_api.helpers import V2, create, neutron_error


async def test_quota_show_update_details_reset(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    url = f"{V2}/quotas/{demo}"
    shown = (await cloud.client.get(url, headers=cloud.demo)).json()["quota"]
    assert shown == {"network": 100, "subnet": 100, "port": 500, "security_group": 10,
                     "security_group_rule": 100}  # fmt: skip
    denied = await cloud.client.put(url, json={"quota": {"network": 1}}, headers=cloud.demo)
    assert denied.status_code == 403 and "NeutronError" in denied.json()
    other = await cloud.client.get(
        f"{V2}/quotas/{cloud.seeded.admin_project_id}", headers=cloud.demo
    )
    assert other.status_code == 403
    upd = await cloud.client.put(
        url, json={"quota": {"network": 1, "port": -1}}, headers=cloud.admin
    )
    assert upd.json()["quota"]["network"] == 1 and upd.json()["quota"]["port"] == -1
    bad = await cloud.client.put(url, json={"quota": {"network": -5}}, headers=cloud.admin)
    assert bad.status_code == 400
    await create(cloud, "network", cloud.demo, name="only")
    over = await cloud.client.post(f"{V2}/networks", json={"network": {}}, headers=cloud.demo)
    assert neutron_error(over, 409, "OverQuota") == "Quota exceeded for resources: ['network']."
    details = (await cloud.client.get(f"{url}/details", headers=cloud.demo)).json()["quota"]
    assert details["network"] == {"limit": 1, "used": 1, "reserved": 0}
    listed = (await cloud.client.get(f"{V2}/quotas", headers=cloud.admin)).json()["quotas"]
    assert [q["project_id"] for q in listed] == [demo]
    assert (await cloud.client.delete(url, headers=cloud.admin)).status_code == 204
    assert (await cloud.client.get(url, headers=cloud.demo)).json()["quota"]["network"] == 100


async def test_security_group_rule_quota(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    group = await create(cloud, "security_group", cloud.demo, name="g")
    # default group (4 rules) + this group's 2 egress rules already count.
    await cloud.client.put(
        f"{V2}/quotas/{demo}", json={"quota": {"security_group_rule": 7}}, headers=cloud.admin
    )
    body = {"security_group_id": group["id"], "direction": "ingress", "protocol": "icmp"}
    ok = await cloud.client.post(
        f"{V2}/security-group-rules", json={"security_group_rule": body}, headers=cloud.demo
    )
    assert ok.status_code == 201
    body["protocol"] = "udp"
    over = await cloud.client.post(
        f"{V2}/security-group-rules", json={"security_group_rule": body}, headers=cloud.demo
    )
    neutron_error(over, 409, "OverQuota")


async def test_check_limit_refuses_limits_below_usage(cloud: Cloud) -> None:
    demo = cloud.seeded.demo_project_id
    for _ in range(2):
        await create(cloud, "network", cloud.demo)
    url = f"{V2}/quotas/{demo}"
    low = {"quota": {"network": 1, "check_limit": True}}
    refused = await cloud.client.put(url, json=low, headers=cloud.admin)
    assert "already used and reserved 2" in neutron_error(refused, 400, "InvalidQuotaValue")
    forced = await cloud.client.put(
        url, json={"quota": {"network": 1, "force": True}}, headers=cloud.admin
    )
    assert forced.json()["quota"]["network"] == 1
