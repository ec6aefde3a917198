"""The operator view in a real browser while a baremetal install runs: the task table
shows the install with its phase and elapsed time, refreshes itself, and when the install
is done stops polling and brings the node's new state into the floor plan by itself.

A ``stockyard up`` whose emulated installer takes 8 s, so the install is seen running.
Screenshots are written under the test's pytest tmp dir.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from stockyard.image.defaults import DEFAULT_IMAGE_ID
from tests.dashboard.test_browser import CHROMIUM, _admin_password, _demo_password, _login
from tests.e2e.conftest import RunningCloud, start_cloud, stop_cloud

playwright = pytest.importorskip("playwright.sync_api")
LAB = Path(__file__).resolve().parents[2] / "stockyard" / "lab" / "lab.yaml"


@pytest.fixture(scope="module")
def slow_install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    tmp = tmp_path_factory.mktemp("cloud")
    lab = yaml.safe_load(LAB.read_text())
    lab["baremetal"]["install_seconds"] = 8
    (tmp / "lab.yaml").write_text(yaml.safe_dump(lab))
    running = start_cloud(tmp, {"STOCKYARD_LAB_FILE": str(tmp / "lab.yaml")})
    yield running
    stop_cloud(running)


def _demo_creates_a_bm_server(cloud: RunningCloud) -> None:
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "password": _demo_password(cloud), "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}  # fmt: skip
    token = httpx.post(f"{cloud.base_url}/identity/v3/auth/tokens", json=auth)
    headers = {"X-Auth-Token": token.headers["X-Subject-Token"]}
    compute = f"{cloud.base_url}/compute/v2.1"
    flavors = httpx.get(f"{compute}/flavors", headers=headers).json()["flavors"]
    gold = next(f["id"] for f in flavors if f["name"] == "bm.gold")
    body = {"server": {"name": "bm-watched", "flavorRef": gold, "imageRef": DEFAULT_IMAGE_ID,
                       "networks": "auto"}}  # fmt: skip
    created = httpx.post(f"{compute}/servers", json=body, headers=headers)
    assert created.status_code == 202, created.text


def test_an_install_in_progress_on_the_operator_view(
    slow_install: RunningCloud, tmp_path: Path
) -> None:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    base = slow_install.base_url
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on(
            "console",
            lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
        )
        try:
            _login(page, base, "admin", _admin_password(slow_install), "admin")
            _demo_creates_a_bm_server(slow_install)
            # The server is scheduled, then its install starts: look until it is there.
            rows = page.locator("#tasks tr[data-task]")
            for _ in range(120):
                page.goto(f"{base}/dashboard/operator")
                if rows.count():
                    break
                page.wait_for_timeout(500)
            assert rows.count() == 1
            row = rows.first
            node = row.locator("th").inner_text()
            assert re.fullmatch(r"\d+ (s|min \d\d s)", row.locator("td").nth(4).inner_text())
            assert page.locator("#tasks-table[hx-trigger]").count() == 1  # polling
            box = page.locator(f'svg#floor-plan g.svg-host[data-host="{node}"]')
            assert box.get_attribute("data-provision-state") == "deploying"
            page.screenshot(path=shots / "21-install-in-progress.png", full_page=True)
            # Without a reload: the table empties, polling stops, the node turns active.
            tasks = page.get_by_role("region", name="Install tasks in progress")
            playwright.expect(tasks).to_contain_text(
                "No install or clean task in progress.", timeout=120_000
            )
            playwright.expect(page.locator("#tasks-table[hx-trigger]")).to_have_count(0)
            playwright.expect(box).to_have_attribute("data-provision-state", "active")
            page.screenshot(path=shots / "22-install-done.png", full_page=True)
        except Exception:
            page.screenshot(path=shots / "failure.png", full_page=True)
            raise
        finally:
            browser.close()
    assert problems == []
