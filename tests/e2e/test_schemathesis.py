"""Issue 10: schemathesis over ``/openapi.json`` against a real ``stockyard up``, as a member
and as admin, coverage + fuzzing phases, and not one response >= 500.

The run is the real ``st run`` CLI in a subprocess with a fixed seed and a bounded number of
examples per operation. Path parameters are drawn half of the time from the ids of resources
this module creates before each run (a flavor with an extra spec, an image with a tag, a
keypair, a server group, a server, an aggregate, a stock request, ...), so the fuzzed requests
reach the handlers behind the 404 of an unknown id too; schemathesis itself reuses the ids it
reads in responses and runs the ``DELETE`` operations last. Identity routes that would destroy
the run itself (deleting or patching users, projects, domains, roles and role assignments,
revoking tokens, changing passwords) are left out.

Every response is read back from the run's NDJSON report and counted; a response >= 500 is
printed as method, URL, body and response so it can be replayed with curl."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import VENV_BIN, RunningCloud, start_cloud, stop_cloud

# Deterministic and bounded: with these, both runs together take 2-4 minutes on 2 cores.
SEED = 10
MAX_EXAMPLES = 20
RUN_TIMEOUT = 420  # seconds for one ``st run``; a hang is a failure, not a stuck CI
PHASES = "coverage,fuzzing"

# Operations left out (matched against schemathesis' "METHOD /path" names): the ones that
# would lock the test out of its own cloud or remove the identities its tokens stand for,
# and node enrolment, whose BMC address hwmgr would call.
EXCLUDED_OPERATIONS = (
    r"^("
    # users, projects, domains, roles, groups and, below them, role assignments (also the
    # system and inherited ones) and group memberships
    r"(PATCH|DELETE) /identity/v3/(users|projects|domains|roles|groups|system|OS-INHERIT)/.*"
    r"|DELETE /identity/v3/auth/tokens"
    r"|POST /identity/v3/users/\{user_id\}/password"
    # Enrolling a node makes hwmgr call the BMC address in the body: fuzzed addresses
    # would reach beyond 127.0.0.0/8 (tests/e2e/test_node_enrolment.py covers it).
    r"|POST /stock/v1/nodes"
    r")$"
)


# 500s this test finds and that are not fixed yet: only these exact requests are let through
# (printed, not failed). Empty: the aggregate/hypervisor ids ("²", 2**63) are 404s now.
KNOWN_SERVER_ERRORS: set[str] = set()
"""Operations with a known, not yet fixed 500 for the ids of KNOWN_IDS (none left)."""
KNOWN_IDS = (f"/{2**63}", "/%C2%B2")


@dataclass
class FuzzCloud:
    cloud: RunningCloud
    tokens: dict[str, str]


def _token(clouds_yaml: Path, name: str) -> str:
    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"][name]["auth"]
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": auth["username"],
                        "password": auth["password"],
                        "domain": {"name": auth["user_domain_name"]},
                    }
                },
            },
            "scope": {
                "project": {
                    "name": auth["project_name"],
                    "domain": {"name": auth["project_domain_name"]},
                }
            },
        }
    }
    r = httpx.post(f"{auth['auth_url']}/auth/tokens", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


class _Api:
    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=60)

    def call(self, method: str, path: str, ok: tuple[int, ...], **kw: Any) -> Any:
        r = self.client.request(method, path, **kw)
        assert r.status_code in ok, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None


def _seed(base: str, tokens: dict[str, str], tag: str) -> dict[str, list[str]]:
    """Create one of each resource the API has ids for; return the ids by path parameter."""
    admin, member = _Api(base, tokens["admin"]), _Api(base, tokens["member"])
    ok = (200, 201, 202, 204)

    flavor = admin.call(
        "POST",
        "/compute/v2.1/flavors",
        ok,
        json={"flavor": {"name": f"fuzz.{tag}", "ram": 512, "vcpus": 1, "disk": 1}},
    )["flavor"]
    admin.call(
        "POST",
        f"/compute/v2.1/flavors/{flavor['id']}/os-extra_specs",
        ok,
        json={"extra_specs": {"hw:cpu_policy": "shared"}},
    )
    aggregate = admin.call(
        "POST",
        "/compute/v2.1/os-aggregates",
        ok,
        json={"aggregate": {"name": f"fuzz-agg-{tag}", "availability_zone": "az1"}},
    )["aggregate"]
    hypervisors = admin.call("GET", "/compute/v2.1/os-hypervisors", ok)["hypervisors"][:2]

    image = member.call(
        "POST",
        "/image/v2/images",
        ok,
        json={"name": f"fuzz-img-{tag}", "disk_format": "raw", "container_format": "bare"},
    )
    member.call(
        "PUT",
        f"/image/v2/images/{image['id']}/file",
        ok,
        content=b"\0" * 4096,
        headers={"Content-Type": "application/octet-stream"},
    )
    member.call("PUT", f"/image/v2/images/{image['id']}/tags/fuzz", ok)
    for api in (member, admin):  # keypairs are per user
        api.call(
            "POST", "/compute/v2.1/os-keypairs", ok, json={"keypair": {"name": f"fuzz-key-{tag}"}}
        )
    group = member.call(
        "POST",
        "/compute/v2.1/os-server-groups",
        ok,
        json={"server_group": {"name": f"fuzz-group-{tag}", "policies": ["anti-affinity"]}},
    )["server_group"]
    server = member.call(
        "POST",
        "/compute/v2.1/servers",
        ok,
        json={
            "server": {
                "name": f"fuzz-vm-{tag}",
                "flavorRef": flavor["id"],
                "imageRef": image["id"],
                "key_name": f"fuzz-key-{tag}",
                "metadata": {"fuzz": "yes"},
            }
        },
    )["server"]
    deadline = time.monotonic() + 120
    while True:
        shown = member.call("GET", f"/compute/v2.1/servers/{server['id']}", ok)["server"]
        if shown["status"] in ("ACTIVE", "ERROR") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    actions = member.call("GET", f"/compute/v2.1/servers/{server['id']}/os-instance-actions", ok)[
        "instanceActions"
    ]
    networks = list(shown.get("addresses") or {})
    stock_request = member.call(
        "POST",
        "/stock/v1/requests",
        ok,
        json={"resource_class": "BM_GOLD", "availability_zone": "az1", "count": 1},
    )["request"]
    nodes = admin.call("GET", "/stock/v1/nodes", ok, params={"pool": "true"})["nodes"][:2]

    def ids(path: str, key: str, attr: str = "id") -> list[str]:
        return [str(item[attr]) for item in admin.call("GET", path, ok)[key]][:4]

    projects = ids("/identity/v3/projects", "projects")
    return {
        "server_id": [server["id"]],
        "flavor_id": [flavor["id"]],
        "key": ["hw:cpu_policy"],
        "image_id": [image["id"]],
        "tag": ["fuzz"],
        "name": [f"fuzz-key-{tag}"],
        "group_id": [group["id"]],
        "aggregate_id": [str(aggregate["id"])],
        "hypervisor_id": [str(h["id"]) for h in hypervisors],
        "pattern": [h["hypervisor_hostname"] for h in hypervisors],
        "req_id": [a["request_id"] for a in actions] or ["none"],
        "network": networks or ["none"],
        "request_id": [stock_request["id"]],
        "node_uuid": [n["uuid"] for n in nodes] or ["none"],
        "project_id": projects,
        "target_id": projects,
        "user_id": ids("/identity/v3/users", "users"),
        "domain_id": ids("/identity/v3/domains", "domains"),
        "role_id": ids("/identity/v3/roles", "roles"),
        "region_id": ids("/identity/v3/regions", "regions"),
        "sid": ids("/identity/v3/services", "services"),
        "eid": ids("/identity/v3/endpoints", "endpoints"),
    }


# Values that random generation seldom makes and that broke handlers before: integers past
# what the database stores (SQLite raises OverflowError binding them) and digit strings that
# str.isdigit() accepts but int() does not ("²").
EDGE_INTEGERS = [2**63 - 1, 2**63, -(2**63) - 1, 2**64]
EDGE_STRINGS = [str(2**63), str(-(2**63) - 1), "\u00b2", "\u0661\u0662", "-0", " 1"]


def _config(ids: dict[str, list[str]]) -> str:
    """schemathesis.toml: a dictionary per path parameter (the ids plus edge values), drawn
    from half of the time; the edge values for every other integer and string, now and then."""
    lines = [
        f"[dictionaries.edge_integers]\nvalues = {json.dumps(EDGE_INTEGERS)}\n",
        f"[dictionaries.edge_strings]\nvalues = {json.dumps(EDGE_STRINGS)}\n",
    ]
    for name, values in ids.items():
        entries = values + EDGE_STRINGS[:3]
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(entries)}\n")
    lines += [
        "[generation.dictionaries]",
        'integer = { dictionary = "edge_integers", probability = 0.1 }',
        'string = { dictionary = "edge_strings", probability = 0.05 }',
        "",
        "[parameters]",
    ]
    for name in ids:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def fuzz_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzCloud]:
    # A cloud of its own: the admin run creates flavors, users, aggregates... by the hundred.
    cloud = start_cloud(tmp_path_factory.mktemp("fuzz-cloud"))
    try:
        tokens = {
            "member": _token(cloud.clouds_yaml, "stockyard"),
            "admin": _token(cloud.clouds_yaml, "stockyard-admin"),
        }
        yield FuzzCloud(cloud, tokens)
    finally:
        stop_cloud(cloud)


@dataclass
class RunResult:
    returncode: int
    output: str
    cases: int
    responses: int
    statuses: dict[int, int]
    server_errors: list[str]
    known_errors: list[str]
    run_errors: list[str]
    seconds: float


def _decode(payload: Any) -> str:
    if not payload:
        return ""
    if isinstance(payload, dict) and "$base64" in payload:
        raw = base64.b64decode(payload["$base64"])
    elif isinstance(payload, dict) and "string" in payload:
        raw = str(payload["string"]).encode()
    else:
        raw = str(payload).encode()
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= 2000 else text[:2000] + "..."


def _read_report(path: Path) -> tuple[int, dict[int, int], list[str], list[str], list[str]]:
    """Every response of the run from its NDJSON events: count, status histogram, and each
    response >= 500 spelled out (new ones, and the known ones of KNOWN_SERVER_ERRORS), and
    the run's own errors (a request that timed out, a schema it could not use...)."""
    responses, statuses, errors, known = 0, dict[int, int](), list[str](), list[str]()
    failures = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        failures += [line[:2000] for kind in ("NonFatalError", "FatalError") if kind in event]
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        for interaction in recorder.get("interactions", {}).values():
            response = interaction.get("response")
            if response is None:
                continue
            responses += 1
            status = int(response["status_code"])
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 500:
                request = interaction["request"]
                is_known = recorder["label"] in KNOWN_SERVER_ERRORS and any(
                    part in request["uri"] for part in KNOWN_IDS
                )
                (known if is_known else errors).append(
                    f"{recorder['label']}: {request['method']} {request['uri']}\n"
                    f"  body: {_decode(request.get('body'))}\n"
                    f"  -> {status} {_decode(response.get('content'))}"
                )
    return responses, statuses, errors, known, failures


def _run(fc: FuzzCloud, who: str, microversion: str, tmp: Path) -> RunResult:
    # Fresh resources for each run: schemathesis runs the DELETEs last, with the ids it saw
    # in earlier responses, so the previous run's server, image... are gone by now.
    config = tmp / "schemathesis.toml"
    config.write_text(_config(_seed(fc.cloud.base_url, fc.tokens, who)))
    report = tmp / "events.ndjson"
    cmd = [
        str(VENV_BIN / "st"),
        "--config-file",
        str(config),
        "run",
        f"{fc.cloud.base_url}/openapi.json",
        "--phases",
        PHASES,
        "--checks",
        "not_a_server_error",
        "--header",
        f"X-Auth-Token: {fc.tokens[who]}",
        "--header",
        f"OpenStack-API-Version: compute {microversion}",
        "--exclude-name-regex",
        EXCLUDED_OPERATIONS,
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--continue-on-failure",
        "--no-shrink",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--no-color",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    env["COLUMNS"] = "120"
    start = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        pytest.fail(
            f"st run as {who} did not finish in {RUN_TIMEOUT} s:\n{out[-5000:]}\n"
            f"--- server log tail ---\n{fc.cloud.log_tail()}"
        )
    seconds = time.monotonic() - start
    output = proc.stdout + proc.stderr
    generated = re.search(r"(\d+) generated", output)
    responses, statuses, errors, known, failures = _read_report(report)
    return RunResult(
        proc.returncode,
        output,
        int(generated.group(1)) if generated else 0,
        responses,
        statuses,
        errors,
        known,
        failures,
        seconds,
    )


# The member at the newest compute microversion, the admin at the oldest: both ends of the
# version-dependent code paths in one pass each.
@pytest.mark.parametrize(("who", "microversion"), [("member", "latest"), ("admin", "2.1")])
def test_no_response_is_a_server_error(
    fuzz_cloud: FuzzCloud,
    who: str,
    microversion: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = _run(fuzz_cloud, who, microversion, tmp_path)
    with capsys.disabled():
        print(
            f"\nschemathesis as {who} (compute {microversion}): {result.cases} cases, "
            f"{result.responses} responses in {result.seconds:.0f} s, "
            f"statuses {dict(sorted(result.statuses.items()))}"
        )
        for known in sorted(set(result.known_errors)):
            print(f"known, not fixed yet: {known.splitlines()[0]}")
    assert fuzz_cloud.cloud.proc.poll() is None, (
        "stockyard up died:\n" + fuzz_cloud.cloud.log_tail()
    )
    assert result.responses > 1000, result.output[-5000:]
    assert not result.server_errors, (
        f"{len(result.server_errors)} responses >= 500 as {who}:\n\n"
        + "\n\n".join(result.server_errors[:40])
        + "\n--- server log tail ---\n"
        + fuzz_cloud.cloud.log_tail(30)
    )
    # Nothing else went wrong either (a request that timed out, a broken schema...); the
    # known 500s alone make schemathesis exit 1.
    assert not result.run_errors, "\n".join(result.run_errors[:10])
    assert result.returncode == (1 if result.known_errors else 0), result.output[-8000:]
