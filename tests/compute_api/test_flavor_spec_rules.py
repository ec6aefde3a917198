"""2.86 flavor extra spec validation: Nova's rules for the keys Stockyard checks, unknown
keys of strict namespaces refused, everything else let through; nothing before 2.86."""

from __future__ import annotations

from tests.compute_api.helpers import V
from tests.conftest import Cloud

SPECS = f"{V}/flavors/fx/os-extra_specs"


async def _flavor(cloud: Cloud) -> None:
    body = {"flavor": {"name": "fx", "ram": 512, "vcpus": 1, "disk": 1, "id": "fx"}}
    r = await cloud.client.post(f"{V}/flavors", json=body, headers=cloud.admin)
    assert r.status_code == 200, r.text


async def _post(cloud: Cloud, specs: dict[str, object], mv: str) -> tuple[int, str]:
    h = cloud.headers(cloud.admin_token, mv)
    r = await cloud.client.post(SPECS, json={"extra_specs": specs}, headers=h)
    return r.status_code, r.text


async def test_refused_from_2_86_accepted_before(cloud: Cloud) -> None:
    await _flavor(cloud)
    refused = {
        "hw:cpu_policy": ("pinned", "is not one of: dedicated, shared, mixed"),
        "hw:numa_nodes": ("0", "less than the min value of '1'"),
        "hw:cpu_cores": ("two", "is not a valid integer value"),
        "hw:mem_page_size": ("huge", "is not of the format"),
        "hw:boot_menu": ("maybe", "not a valid boolean-like value"),
        "hw:numa_cpus.0": ("0-1,x", "is not of the format"),
        "hw_rng:rate_bytes": ("-1", "less than the min value of '0'"),
        "resources:CUSTOM_BM_GOLD": ("one", "is not a valid integer value"),
        "resources:VCPU": ("x", "is not a valid integer value"),
        "resources:custom_lower": ("1", "does not appear to be a valid extra spec"),
        "resources1:FOO": ("1", "does not appear to be a valid extra spec"),
        "trait:HW_CPU_X86_AVX": ("wanted", "is not one of: required, forbidden"),
        "trait:lower_case": ("required", "does not appear to be a valid extra spec"),
        "group_policy": ("all", "is not one of: isolate, none"),
        "hide_hypervisor_id": ("sure", "not a valid boolean-like value"),
    }
    for key, (value, message) in refused.items():
        status, text = await _post(cloud, {key: value}, "2.86")
        assert status == 400 and "Validation failed; " in text and message in text, (key, text)
        status, _ = await _post(cloud, {key: value}, "2.85")
        assert status == 200, key


async def test_valid_and_unchecked_keys_pass(cloud: Cloud) -> None:
    await _flavor(cloud)
    accepted = {
        "hw:cpu_policy": "dedicated",
        "hw:mem_page_size": "2MiB",
        "hw:numa_mem.1": "1024",
        "hw:cpu_realtime_mask": "^0-1",
        "hw:some_newer_key": "anything",  # values-only namespace: unknown keys pass
        "resources:CUSTOM_BM_GOLD": "1",
        "resources_G1:VCPU": "2",
        "trait:CUSTOM_FAST": "required",
        "aggregate_instance_extra_specs:ssd": "<in> true",
        "quota:cpu_quota": "whatever",  # namespace not checked here
        "custom:anything": "x",  # not a Nova namespace
        "plain_key": "x",
        "group_policy": "isolate",
        "hide_hypervisor_id": "true",
        "hw_video:ram_max_mb": 64,
    }
    status, text = await _post(cloud, accepted, "2.86")
    assert status == 200, text
    # PUT of one key is checked the same way.
    h = cloud.headers(cloud.admin_token, "2.86")
    r = await cloud.client.put(f"{SPECS}/hw:numa_nodes", json={"hw:numa_nodes": "0"}, headers=h)
    assert r.status_code == 400 and "min value" in r.text
    r = await cloud.client.put(f"{SPECS}/hw:numa_nodes", json={"hw:numa_nodes": "2"}, headers=h)
    assert r.status_code == 200, r.text
