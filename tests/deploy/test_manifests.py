"""deploy/: every region overlay renders with ``kubectl kustomize``, validates against the
Kubernetes schemas (``kubernetes-validate``, offline) and Argo CD's Application schema,
and carries what a production role needs: probes, requests and limits, Secrets by
reference only, a PodDisruptionBudget, and NetworkPolicies with only DESIGN.md's flows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from stockyard.cli.main import app
from stockyard.lab.model import load_lab
from stockyard.settings import Settings
from tests.deploy.manifests import (
    DEPLOY,
    OVERLAYS,
    Doc,
    annotations,
    component,
    pod_spec,
    render,
    role_command,
    wave,
    workloads,
)

# The oldest Kubernetes the manifests are written for (policy/v1, batch/v1, ...).
K8S_VERSION = "1.30.0"
overlay = pytest.mark.parametrize("path", OVERLAYS, ids=[p.name for p in OVERLAYS])
# Environment variables whose value is a credential or holds one (URLs with passwords).
SECRET_ENV = ("PASSWORD", "DATABASE_URL", "BUS_URL", "TOKEN", "SECRET", "KEY")
SECRET_SETTINGS = {"database_url", "bus_url", "admin_password", "demo_password"}


def test_there_are_two_example_regions() -> None:
    assert [p.name for p in OVERLAYS] == ["regionone", "regiontwo"]


@overlay
def test_overlay_validates_against_the_kubernetes_schemas(path: Path) -> None:
    errors = []
    for doc in render(path):
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_the_validation_catches_a_broken_manifest() -> None:
    """The schemas are really consulted: a misspelt field fails."""
    api = next(d for d in render(OVERLAYS[0]) if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(api))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_argocd_applications_validate_and_point_at_every_overlay() -> None:
    schema = json.loads((DEPLOY / "argocd/schema/application.schema.json").read_text())
    apps = [d for d in render(DEPLOY / "argocd") if d["kind"] == "Application"]
    for doc in apps:
        jsonschema.validate(doc, schema)
    paths = {doc["spec"]["source"]["path"]: doc for doc in apps}
    assert sorted(paths) == [f"deploy/overlays/{p.name}" for p in OVERLAYS]
    for p in OVERLAYS:
        namespace = yaml.safe_load((p / "kustomization.yaml").read_text())["namespace"]
        app = paths[f"deploy/overlays/{p.name}"]
        assert app["spec"]["destination"]["namespace"] == namespace
        assert "CreateNamespace=true" in app["spec"]["syncPolicy"]["syncOptions"]
    # The schema is strict enough to catch a misspelt sync policy.
    bad = json.loads(json.dumps(apps[0]))
    bad["spec"]["syncPolicy"]["automated"]["selfheal"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def _role_commands() -> set[str]:
    """The ``stockyard`` commands that are long-running roles."""
    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    return names - {"up", "version"}


@overlay
def test_every_role_is_deployed(path: Path) -> None:
    docs = render(path)
    components = {component(d) for d in workloads(docs)}
    assert components >= {
        "api", "scheduler", "conductor", "volume", "agent-libvirt", "agent-baremetal", "hwmgr",
        "dashboard", "db-upgrade",
    }  # fmt: skip
    started = {role_command(d)[1] for d in workloads(docs) if role_command(d)[0] == "stockyard"}
    assert _role_commands() <= started, f"roles without a manifest: {_role_commands() - started}"
    hwmgr = next(d for d in workloads(docs) if component(d) == "hwmgr")
    assert role_command(hwmgr) == ["python", "-m", "stockyard.hwmgr"]
    agent = next(d for d in docs if d["kind"] == "DaemonSet")
    assert pod_spec(agent)["nodeSelector"] == {"stockyard.io/hypervisor": "true"}
    _check_baremetal_agent(path, docs)
    for name in ("stockyard-scheduler", "stockyard-conductor", "stockyard-api"):
        deployment = next(
            d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name
        )
        assert deployment["spec"]["replicas"] >= 2, name


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _check_baremetal_agent(path: Path, docs: tuple[Doc, ...]) -> None:
    """One per region, of the overlay's region and hwmgr, single replica (see its manifest),
    no database credentials, the image store read-only."""
    bm = [d for d in workloads(docs) if component(d) == "agent-baremetal"]
    assert len(bm) == 1 and bm[0]["kind"] == "Deployment"
    deployment = bm[0]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    args = role_command(deployment)[1:]
    region = yaml.safe_load((path / "kustomization.yaml").read_text())["labels"][0]["pairs"]
    assert _option(args, "--region") == region["stockyard.io/region"]
    namespace = yaml.safe_load((path / "kustomization.yaml").read_text())["namespace"]
    assert _option(args, "--hwmgr-url") == f"http://stockyard-hwmgr.{namespace}.svc:6385"
    image_url = _option(args, "--image-url")
    assert image_url == f"http://stockyard-agent-baremetal.{namespace}.svc:8791"
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    service = services["stockyard-agent-baremetal"]
    assert [p["port"] for p in service["spec"]["ports"]] == [int(_option(args, "--image-port"))]
    container = pod_spec(deployment)["containers"][0]
    env = {e["name"] for e in container["env"]}
    assert "STOCKYARD_DATABASE_URL" not in env and "STOCKYARD_HWMGR_TOKEN" in env
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["images"]["readOnly"] is True


def _env_is_secret_ref(env: dict[str, Any]) -> bool:
    return "secretKeyRef" in (env.get("valueFrom") or {})


@overlay
def test_every_role_has_probes_limits_and_no_inline_secret(path: Path) -> None:
    docs = render(path)
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are never in git"
    for doc in workloads(docs):
        name = doc["metadata"]["name"]
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for c in spec["containers"]:
            res = c["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{name}: {kind}"
            if doc["kind"] != "Job":
                for probe in ("livenessProbe", "readinessProbe"):
                    assert "httpGet" in c.get(probe, {}), f"{name}: {probe}"
            for env in c.get("env", []):
                if any(word in env["name"] for word in SECRET_ENV):
                    assert _env_is_secret_ref(env), f"{name}: {env['name']} inline"
    for doc in docs:
        if doc["kind"] != "ConfigMap":
            continue
        for key, value in doc["data"].items():
            assert not any(word in key for word in SECRET_ENV), key
            if key == "stockyard.yaml":
                settings = yaml.safe_load(value)
                assert not set(settings) & SECRET_SETTINGS, "a secret setting in the ConfigMap"
                assert not re.search(r"://[^/\s]*@", value), "a URL with credentials"


@overlay
def test_probes_use_the_health_endpoints(path: Path) -> None:
    for doc in workloads(render(path)):
        if doc["kind"] == "Job":
            continue
        c = pod_spec(doc)["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        ready = "/healthz" if component(doc) == "dashboard" else "/readyz"
        assert c["readinessProbe"]["httpGet"]["path"] == ready


@overlay
def test_every_deployment_has_a_disruption_budget(path: Path) -> None:
    docs = render(path)
    budgets = [
        d["spec"]["selector"]["matchLabels"] for d in docs if d["kind"] == "PodDisruptionBudget"
    ]
    for doc in docs:
        if doc["kind"] == "Deployment":
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert any(b.items() <= labels.items() for b in budgets), doc["metadata"]["name"]


@overlay
def test_schema_upgrade_runs_in_the_sync_phase_before_the_roles(path: Path) -> None:
    docs = render(path)
    jobs = [d for d in docs if d["kind"] == "Job"]
    assert len(jobs) == 1
    job = jobs[0]
    assert role_command(job)[:3] == ["stockyard", "db", "upgrade"]
    notes = annotations(job)
    # An Argo CD Sync hook (not PreSync/PostSync, not a Helm hook), re-created per sync.
    assert notes["argocd.argoproj.io/hook"] == "Sync"
    assert notes["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    assert not [d for d in docs if any(k.startswith("helm.sh/") for k in annotations(d))]
    roles = [d for d in docs if d["kind"] in ("Deployment", "DaemonSet", "StatefulSet")]
    assert wave(job) < min(wave(d) for d in roles)
    # What the Job reads exists in an earlier wave.
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "PersistentVolumeClaim", "ServiceAccount"):
            assert wave(doc) < wave(job), doc["metadata"]["name"]


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        assert expr["operator"] == "In"
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _allowed_ports(docs: tuple[Doc, ...], labels: dict[str, str], kind: str) -> set[int]:
    ports: set[int] = set()
    rules_key = "egress" if kind == "Egress" else "ingress"
    for doc in docs:
        if doc["kind"] != "NetworkPolicy" or kind not in doc["spec"]["policyTypes"]:
            continue
        if _selects(doc["spec"]["podSelector"], labels):
            for rule in doc["spec"].get(rules_key) or []:
                assert rule.get("ports"), f"{doc['metadata']['name']}: a rule open on all ports"
                ports |= {int(p["port"]) for p in rule["ports"]}
    return ports


@overlay
def test_network_policies_allow_only_the_designed_flows(path: Path) -> None:
    docs = render(path)
    deny = [
        d for d in docs
        if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {}
        and set(d["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ]  # fmt: skip
    assert deny and not deny[0]["spec"].get("ingress") and not deny[0]["spec"].get("egress")
    dns, db, bus = {53}, {5432, 3306}, {5672, 5671}
    expected_egress = {
        "api": dns | db | bus | {6385},  # and its region's hwmgr (admins' node states)
        "scheduler": dns | db | bus,
        "conductor": dns | db | bus,
        "volume": dns | db | bus,
        "db-upgrade": dns | db,
        "agent-libvirt": dns | bus,  # no database credentials, no database route
        "agent-baremetal": dns | bus | {6385},  # the bus and its region's hwmgr, no database
        "dashboard": dns | {8774, 443},  # the public APIs only
        "hwmgr": dns | db | {443, 623, 8791},  # its database, the BMCs, the agent's images
    }
    expected_ingress = {
        "api": {8774}, "dashboard": {8780}, "hwmgr": {6385}, "db-upgrade": set(),
        "scheduler": {8090}, "conductor": {8090}, "volume": {8090}, "agent-libvirt": {8090},
        "agent-baremetal": {8090, 8791},
    }  # fmt: skip
    for doc in workloads(docs):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        name = component(doc)
        assert _allowed_ports(docs, labels, "Egress") == expected_egress[name], name
        assert _allowed_ports(docs, labels, "Ingress") == expected_ingress[name], name


@overlay
def test_config_files_are_settings_and_a_lab_of_real_hypervisors(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = yaml.safe_load((path / "stockyard.yaml").read_text())
    unknown = set(config) - set(Settings.model_fields)
    assert not unknown, f"not settings: {unknown}"
    monkeypatch.setenv("STOCKYARD_CONFIG", str(path / "stockyard.yaml"))
    settings = Settings()
    assert str(settings.lab_file) == "/etc/stockyard/lab.yaml"
    assert settings.database_url is None  # from the Secret, never the file
    lab = load_lab(path / "lab.yaml")
    region = yaml.safe_load((path / "kustomization.yaml").read_text())["labels"][0]["pairs"]
    assert [r.name for r in lab.regions] == [region["stockyard.io/region"]]
    hypervisors = lab.hypervisors()
    assert hypervisors and {h.hypervisor_type for h in hypervisors} == {"QEMU"}
    hwmgr_env = dict(
        line.split("=", 1) for line in (path / "hwmgr.env").read_text().splitlines() if line
    )
    assert hwmgr_env["STOCKYARD_HWMGR_REGION"] == region["stockyard.io/region"]
    assert not [k for k in hwmgr_env if any(w in k for w in SECRET_ENV)]


def _secret_refs(doc: Doc) -> set[tuple[str, str]]:
    refs = set()
    for c in pod_spec(doc)["containers"]:
        for env in c.get("env", []):
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                refs.add((ref["name"], ref["key"]))
    return refs


@overlay
def test_references_resolve_and_secrets_are_the_documented_ones(path: Path) -> None:
    docs = render(path)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for doc in workloads(docs):
        spec = pod_spec(doc)
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert ("ServiceAccount", spec["serviceAccountName"]) in names
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in names
        for c in spec["containers"]:
            mounts = {m["name"] for m in c.get("volumeMounts", [])}
            assert mounts <= {v["name"] for v in spec.get("volumes", [])}, doc["metadata"]["name"]
            for source in c.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in names
        if doc["kind"] == "Deployment":
            selector = doc["spec"]["selector"]["matchLabels"]
            assert selector.items() <= labels.items()
    # Every Service reaches a workload through a named port it opens.
    for svc in (d for d in docs if d["kind"] == "Service"):
        targets = [
            d for d in workloads(docs)
            if svc["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]  # fmt: skip
        assert len(targets) == 1, svc["metadata"]["name"]
        ports = {p["name"] for c in pod_spec(targets[0])["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= ports
    # The Secrets the manifests read are exactly those deploy/README.md tells to create.
    used = set().union(*(_secret_refs(d) for d in workloads(docs)))
    readme = (DEPLOY / "README.md").read_text()
    # Its table: | `name` | `key`, `key` | what | used by |
    documented = set(re.findall(r"^\| `(stockyard-[a-z-]+)` \| ([^|]+) \|", readme, re.M))
    keys = {
        (name, key) for name, cell in documented for key in re.findall(r"`([a-z-]+)`", cell)
    }  # fmt: skip
    assert used == keys, f"used {sorted(used)} / documented {sorted(keys)}"
