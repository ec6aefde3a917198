"""The Tempest-schema validator must catch what Tempest catches (so it cannot pass silently)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.schemas import Found, SchemaMismatch, UnmappedRoute, validate

SID = "7b8d8ed0-6c2a-4b7c-9c55-3a3b2b7b4f1e"
PROJECT = "0123456789abcdef0123456789abcdef"


def _created(**extra: Any) -> dict[str, Any]:
    server = {
        "id": SID,
        "links": [{"rel": "self", "href": f"http://x/compute/v2.1/servers/{SID}"}],
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": "secret",
    }
    server.update(extra)
    return {"server": server}


def test_create_server_body_passes() -> None:
    found = validate("POST", "/compute/v2.1/servers", "2.79", 202, _created())
    assert isinstance(found, Found)
    assert found.name == "v2_1.servers.create_server_with_admin_pass"


def test_extra_key_in_create_server_body_is_caught() -> None:
    with pytest.raises(SchemaMismatch, match=r"Additional properties.*'name'"):
        validate("POST", "/compute/v2.1/servers", "2.79", 202, _created(name="vm"))


def test_wrong_status_code_is_caught() -> None:
    with pytest.raises(SchemaMismatch, match=r"status 200, Tempest expects \[202\]"):
        validate("POST", f"/compute/v2.1/{PROJECT}/servers", None, 200, _created())


def test_missing_admin_pass_is_caught() -> None:
    body = _created()
    del body["server"]["adminPass"]
    with pytest.raises(SchemaMismatch, match="adminPass"):
        validate("POST", "/compute/v2.1/servers", "2.1", 202, body)


def test_schema_follows_the_microversion() -> None:
    """servers_client's schema_versions_info: 2.47 embeds the flavor, 2.1 links it."""
    a = validate("GET", "/compute/v2.1/servers/detail", "2.46", 200, {"servers": []})
    b = validate("GET", "/compute/v2.1/servers/detail", "2.47", 200, {"servers": []})
    c = validate("GET", "/compute/v2.1/servers/detail", None, 200, {"servers": []})
    assert isinstance(a, Found) and a.name == "v2_45.servers.list_servers_detail"
    assert isinstance(b, Found) and b.name == "v2_47.servers.list_servers_detail"
    assert isinstance(c, Found) and c.name == "v2_1.servers.list_servers_detail"


def test_body_where_none_is_expected_is_caught() -> None:
    with pytest.raises(SchemaMismatch, match="body should be empty"):
        validate("DELETE", f"/compute/v2.1/servers/{SID}", "2.1", 204, {"x": 1})


def test_errors_are_not_validated_like_tempest() -> None:
    assert "2xx/3xx" in str(validate("POST", "/compute/v2.1/servers", "2.1", 400, {"x": 1}))


def test_unknown_compute_route_fails_loudly() -> None:
    with pytest.raises(UnmappedRoute):
        validate("GET", "/compute/v2.1/os-no-such-thing", "2.1", 200, {})


def test_extensions_are_skipped_explicitly() -> None:
    why = validate(
        "GET", f"/compute/v2.1/os-server-groups/{SID}/stockyard-placement", "2.1", 200, {}
    )
    assert isinstance(why, str) and "Stockyard extension" in why
    assert "Stockyard" in str(validate("GET", "/stock/v1/hosts", None, 200, {}))


def test_image_status_codes() -> None:
    assert isinstance(validate("POST", "/image/v2/images", None, 201, {}), Found)
    with pytest.raises(SchemaMismatch, match="status 200"):
        validate("POST", "/image/v2/images", None, 200, {})
