import re
from pathlib import Path

from stockyard.api.microversion import MAX_VERSION, max_str
from tests.compute_api.helpers import V
from tests.conftest import Cloud


async def test_version_discovery_needs_no_auth(cloud: Cloud) -> None:
    r = await cloud.client.get("/compute/")
    assert r.status_code == 200
    current = next(v for v in r.json()["versions"] if v["id"] == "v2.1")
    assert current["status"] == "CURRENT"
    assert current["version"] == max_str()
    assert current["min_version"] == "2.1"
    assert current["links"][0]["href"] == "http://127.0.0.1:8774/compute/v2.1/"
    for path in ("/compute", f"{V}", f"{V}/"):
        r = await cloud.client.get(path)
        assert r.status_code == 200, path
    r = await cloud.client.get(V)
    assert r.json()["version"]["id"] == "v2.1"


async def test_project_id_in_path(cloud: Cloud) -> None:
    project = cloud.seeded.demo_project_id
    r = await cloud.client.get(f"{V}/{project}/flavors", headers=cloud.demo)
    assert r.status_code == 200 and r.json() == {"flavors": []}
    r = await cloud.client.get(f"{V}/{project}/os-quota-sets/{project}", headers=cloud.demo)
    assert r.json()["quota_set"]["id"] == project
    r = await cloud.client.get(f"{V}/someone-else/flavors", headers=cloud.demo)
    assert r.status_code == 400 and "project_id" in r.json()["badRequest"]["message"]


def test_no_code_asks_above_the_advertised_max() -> None:
    """The advertised maximum is the one negotiated, and no branch of the code needs a
    microversion above it (a gate above it would be dead, or the max too low)."""
    assert max_str() == f"{MAX_VERSION[0]}.{MAX_VERSION[1]}"
    root = Path(__file__).resolve().parents[2] / "stockyard"
    asked = {
        (int(major), int(minor))
        for path in root.rglob("*.py")
        for major, minor in re.findall(r'at_least\("(\d+)\.(\d+)"\)', path.read_text())
        # Compute's versions are 2.x; Block Storage's own microversions are 3.x.
        if major == "2"
    }
    assert asked and max(asked) <= MAX_VERSION, sorted(asked)[-3:]


async def test_above_max_is_refused(cloud: Cloud) -> None:
    above = f"{MAX_VERSION[0]}.{MAX_VERSION[1] + 1}"
    h = cloud.headers(cloud.admin_token, above)
    r = await cloud.client.get(f"{V}/flavors", headers=h)
    assert r.status_code == 406
    h = cloud.headers(cloud.admin_token, "latest")
    r = await cloud.client.get(f"{V}/flavors", headers=h)
    assert r.headers["OpenStack-API-Version"] == f"compute {max_str()}"
