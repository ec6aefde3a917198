"""iPXE parsing, the image route's token check, and hwmgr's own Alembic history."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from stockyard.hwmgr.installer_emulator import InstallerError, parse_ipxe
from stockyard.hwmgr.migrate import upgrade
from tests.hwmgr.conftest import Lab


def test_parse_ipxe() -> None:
    boot = parse_ipxe(
        "#!ipxe\nkernel http://h/vmlinuz stockyard.task=t1 stockyard.token=abc "
        "stockyard.mode=clean stockyard.callback=http://h/v1/tasks/t1/callback\n"
        "initrd http://h/initrd\nboot\n"
    )
    assert (boot.task_id, boot.token, boot.mode, boot.image_url) == ("t1", "abc", "clean", None)
    assert "abc" not in repr(boot)
    with pytest.raises(InstallerError, match=r"stockyard\.token"):
        parse_ipxe("#!ipxe\nkernel http://h/vmlinuz stockyard.task=t1\n")


async def test_image_needs_task_token(lab: Lab) -> None:
    node = await lab.available("n1")
    lab.installer.never_call_back = True
    task = await lab.deploy(node["uuid"])
    await lab.wait_task(task["uuid"], {"installing"})
    digest = lab.image.checksum.removeprefix("sha256:")
    url = f"/v1/images/{digest}"
    assert (await lab.client.get(url)).status_code == 401
    r = await lab.client.get(url, headers={"X-Task-Id": task["uuid"], "X-Task-Token": "x"})
    assert r.status_code == 401
    script = (await lab.client.get(f"/v1/boot/{node['uuid']}.ipxe")).text
    boot = parse_ipxe(script)
    assert boot.image_url is not None and boot.image_url.endswith(url)
    r = await lab.client.get(
        url, headers={"X-Task-Id": task["uuid"], "Authorization": f"Bearer {boot.token}"}
    )
    assert r.status_code == 200 and len(r.content) == 3 * 4096 * 256
    assert (await lab.client.get("/v1/images/nothex")).status_code == 400


async def test_migrations_create_own_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hw.db'}"
    await upgrade(url)
    await upgrade(url)  # idempotent
    engine = create_engine(f"sqlite:///{tmp_path / 'hw.db'}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == {"nodes", "tasks", "hwmgr_alembic_version"}
