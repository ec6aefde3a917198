"""``/extensions`` lists the Nova extension descriptors of what Stockyard serves, and the
legacy ``/v2`` version document is there for the version list's v2.0 link."""

from __future__ import annotations

from fastapi import FastAPI

from stockyard.api.compute.extensions import EXTENSIONS
from tests.compute_api.helpers import V
from tests.conftest import Cloud


async def test_list_and_show(cloud: Cloud) -> None:
    r = await cloud.client.get(f"{V}/extensions", headers=cloud.demo)
    assert r.status_code == 200, r.text
    extensions = r.json()["extensions"]
    aliases = [e["alias"] for e in extensions]
    for alias in ("os-keypairs", "os-server-groups", "os-console-output", "os-admin-actions"):
        assert alias in aliases
    assert "Hosts" in [e["name"] for e in extensions]
    assert len(set(aliases)) == len(aliases)
    r = await cloud.client.get(f"{V}/extensions/os-quota-sets", headers=cloud.demo)
    assert r.status_code == 200
    assert r.json()["extension"] == {
        "alias": "os-quota-sets",
        "description": "Quotas management support.",
        "links": [],
        "name": "Quotas",
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
        "updated": "2014-12-03T00:00:00Z",
    }


async def test_unserved_extensions_are_404(cloud: Cloud) -> None:
    # Nova still lists os-consoles (an API it removed); Stockyard has no such API.
    for alias in ("os-consoles", "nope"):
        r = await cloud.client.get(f"{V}/extensions/{alias}", headers=cloud.demo)
        assert r.status_code == 404
        assert alias in r.json()["itemNotFound"]["message"]
    r = await cloud.client.get(f"{V}/extensions")
    assert r.status_code == 401


async def test_resource_extensions_are_listed_only_while_routed(cloud: Cloud) -> None:
    routed = {p.removeprefix(V) for p in _app(cloud).openapi()["paths"] if p.startswith(V + "/")}
    assert "/os-keypairs" in routed and "/servers/{server_id}/action" in routed
    listed = {
        e["alias"]
        for e in (await cloud.client.get(f"{V}/extensions", headers=cloud.demo)).json()[
            "extensions"
        ]
    }
    for ext in EXTENSIONS:
        assert (ext.alias in listed) == (ext.path is None or ext.path in routed), ext.alias
    # Every path an extension names is one Stockyard routes (or a slot still empty).
    slots = {"/os-migrations", "/os-simple-tenant-usage", "/os-server-external-events"}
    assert {e.path for e in EXTENSIONS if e.path} - routed <= slots


def _app(cloud: Cloud) -> FastAPI:
    transport = cloud.client._transport  # httpx's ASGI transport holds the app
    app = getattr(transport, "app", None)
    assert isinstance(app, FastAPI)
    return app


async def test_legacy_v2_version_document(cloud: Cloud) -> None:
    listed = (await cloud.client.get("/compute/")).json()["versions"]
    v20 = next(v for v in listed if v["id"] == "v2.0")
    href = v20["links"][0]["href"]
    assert href.endswith("/compute/v2/")
    for path in ("/compute/v2/", "/compute/v2"):
        r = await cloud.client.get(path, headers=cloud.demo)
        assert r.status_code == 200, path
        doc = r.json()["version"]
        assert (doc["id"], doc["status"], doc["version"], doc["min_version"]) == (
            "v2.0",
            "SUPPORTED",
            "",
            "",
        )
        assert doc["links"] == v20["links"]
