"""The API's OpenAPI document, as a client generator reads it."""

from __future__ import annotations

import warnings

from tests.conftest import Cloud


async def test_every_operation_has_its_own_id(cloud: Cloud) -> None:
    # FastAPI warns of a duplicate id while it builds the document; a client generator
    # would make one function of two operations.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = await cloud.client.get("/openapi.json")
    assert r.status_code == 200
    ids = [
        (op["operationId"], f"{method.upper()} {path}")
        for path, ops in r.json()["paths"].items()
        for method, op in ops.items()
    ]
    seen: dict[str, str] = {}
    dupes = [f"{where} and {seen[i]}" for i, where in ids if seen.setdefault(i, where) != where]
    assert dupes == []


async def test_an_empty_image_id_is_not_found_for_every_method(cloud: Cloud) -> None:
    for method in ("GET", "DELETE", "PATCH", "PUT"):
        r = await cloud.client.request(method, "/image/v2/images/", headers=cloud.admin)
        assert r.status_code == 404, method
