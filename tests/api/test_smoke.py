from tests.conftest import Cloud


async def test_unknown_path_gives_compute_404_body(cloud: Cloud) -> None:
    r = await cloud.client.get("/compute/v2.1/nothing-here", headers=cloud.demo)
    assert r.status_code == 404
    assert r.json()["itemNotFound"]["code"] == 404


async def test_health(cloud: Cloud) -> None:
    r = await cloud.client.get("/healthz")
    assert r.json() == {"status": "ok"}
