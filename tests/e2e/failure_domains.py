"""Where servers are, read the documented ways (never from host names): the rack host
aggregates for admins, the ``stockyard-placement`` extension of a server group for its
project."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import RunningCloud


def racks_by_host(c: RunningCloud) -> dict[str, str]:
    """Admin: host name -> ``region/az/rack``, from ``openstack aggregate list --long``."""
    out: dict[str, str] = {}
    for agg in c.os_json("aggregate", "list", "--long"):
        props = agg["Properties"]
        if props.get("stockyard:failure_domain") != "rack":
            continue
        rack = f"{props['stockyard:region']}/{agg['Availability Zone']}/{props['stockyard:rack']}"
        for host in agg["Hosts"]:
            out[host] = rack
    return out


def _compute_url(c: RunningCloud, cloud: str) -> str:
    service = c.os_json("catalog", "show", "compute", cloud=cloud)
    endpoints = service["endpoints"]
    if isinstance(endpoints, str):  # older clients render "RegionOne\n  public: URL"
        return next(w for w in endpoints.split() if w.startswith("http")).rstrip("/")
    return str(next(e["url"] for e in endpoints if e.get("interface") == "public")).rstrip("/")


def group_placement(c: RunningCloud, group_id: str, cloud: str) -> dict[str, Any]:
    """``GET os-server-groups/{id}/stockyard-placement`` with ``cloud``'s token."""
    token = c.os_json("token", "issue", cloud=cloud)["id"]
    r = httpx.get(
        f"{_compute_url(c, cloud)}/os-server-groups/{group_id}/stockyard-placement",
        headers={"X-Auth-Token": token},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()["server_group_placement"]
    return body


def member_domains(placement: dict[str, Any], level: str) -> dict[str, str]:
    """Member id -> its failure domain at ``level`` (region, az or rack), placed ones only."""
    out = {}
    for m in placement["members"]:
        if m["region"] is None:
            continue
        region, az, rack = m["region"], m["availability_zone"], m["rack"]
        out[m["id"]] = {"region": region, "az": f"{region}/{az}", "rack": f"{region}/{az}/{rack}"}[
            level
        ]
    return out
