"""Small helpers for the Networking API tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud

V2 = "/network/v2.0"


async def create(cloud: Cloud, kind: str, headers: dict[str, str], **attrs: Any) -> dict[str, Any]:
    """POST one resource; assert 201 and return its body."""
    path = kind.replace("_", "-") + "s"
    resp = await cloud.client.post(f"{V2}/{path}", json={kind: attrs}, headers=headers)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()[kind]
    return body


def neutron_error(resp: Any, status: int, type_: str) -> str:
    """Assert Neutron's error body; return its message."""
    assert resp.status_code == status, resp.text
    err = resp.json()["NeutronError"]
    assert err["type"] == type_, err
    assert err["detail"] == ""
    message: str = err["message"]
    return message
