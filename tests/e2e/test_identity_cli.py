"""Identity v3 with the real ``openstack`` CLI against ``stockyard up``: groups, group
and system role assignments, system-scoped tokens, domain update and delete."""

from __future__ import annotations

from tests.e2e.conftest import RunningCloud


def test_groups_and_assignments(running_cloud: RunningCloud) -> None:
    c = running_cloud
    group = c.os_json("group", "create", "--description", "Operators", "ops")
    assert group["name"] == "ops" and group["domain_id"] == "default"
    c.os("group", "add", "user", "ops", "demo")
    assert "demo" in c.os("group", "contains", "user", "ops", "demo").stdout
    assert [u["Name"] for u in c.os_json("user", "list", "--group", "ops")] == ["demo"]
    assert any(g["Name"] == "ops" for g in c.os_json("group", "list", "--user", "demo"))

    c.os("role", "add", "--group", "ops", "--project", "admin", "reader")
    rows = c.os_json("role", "assignment", "list", "--group", "ops", "--names")
    assert [(r["Role"], r["Group"], r["Project"]) for r in rows] == [
        ("reader", "ops@Default", "admin@Default")
    ]
    effective = c.os_json("role", "assignment", "list", "--user", "demo", "--effective", "--names")
    assert ("reader", "admin@Default") in {(r["Role"], r["Project"]) for r in effective}

    c.os("role", "add", "--user", "demo", "--system", "all", "reader")
    system_rows = c.os_json("role", "assignment", "list", "--system", "all", "--names")
    assert any(r["User"] == "demo@Default" and r["System"] == "all" for r in system_rows)

    c.os("role", "remove", "--group", "ops", "--project", "admin", "reader")
    c.os("group", "remove", "user", "ops", "demo")
    c.os("group", "delete", "ops")
    assert all(g["Name"] != "ops" for g in c.os_json("group", "list"))


def test_domain_set_and_delete(running_cloud: RunningCloud) -> None:
    c = running_cloud
    c.os("domain", "create", "--description", "temp", "scratch")
    c.os("domain", "set", "--description", "changed", "scratch")
    assert c.os_json("domain", "show", "scratch")["description"] == "changed"
    refused = c.os("domain", "delete", "scratch", check=False)
    assert refused.returncode != 0
    c.os("domain", "set", "--disable", "scratch")
    c.os("domain", "delete", "scratch")
    assert all(d["Name"] != "scratch" for d in c.os_json("domain", "list"))


def test_member_cannot_manage_groups(running_cloud: RunningCloud) -> None:
    proc = running_cloud.os("group", "create", "nope", cloud="stockyard", check=False)
    assert proc.returncode != 0 and "403" in proc.stderr


def test_application_credential_drives_the_cli(running_cloud: RunningCloud) -> None:
    """`openstack application credential create`, then a clouds.yaml entry with
    ``auth_type: v3applicationcredential`` (how CI systems and Terraform log in)."""
    c = running_cloud
    cred = c.os_json(
        "application", "credential", "create", "--role", "member", "ci", cloud="stockyard"
    )
    assert cred["Name"] == "ci" and cred["Secret"]
    clouds = c.clouds_yaml.read_text()
    entry = (
        "  stockyard-app:\n"
        "    auth_type: v3applicationcredential\n"
        "    auth:\n"
        f"      auth_url: {c.base_url}/identity/v3\n"
        f"      application_credential_id: {cred['ID']}\n"
        f"      application_credential_secret: {cred['Secret']}\n"
        "    region_name: RegionOne\n"
        "    identity_api_version: 3\n"
    )
    c.clouds_yaml.write_text(clouds.rstrip("\n") + "\n" + entry)
    issued = c.os_json("token", "issue", cloud="stockyard-app")
    assert issued["project_id"] == cred["Project ID"]
    assert c.os_json("server", "list", cloud="stockyard-app") is not None
    listed = c.os_json("application", "credential", "list", cloud="stockyard")
    assert [row["Name"] for row in listed] == ["ci"]
    c.os("application", "credential", "delete", "ci", cloud="stockyard")
    refused = c.os("token", "issue", cloud="stockyard-app", check=False)
    assert refused.returncode != 0
