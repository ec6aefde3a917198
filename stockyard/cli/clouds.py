"""The ``clouds.yaml`` that ``stockyard up`` writes for the ``openstack`` CLI.

It holds the seeded users' passwords (the client needs them); the file is created with
mode 0600, as DevStack's is, and the database only ever stores hashes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from stockyard.settings import Settings


def clouds_path(settings: Settings) -> Path:
    return settings.data_dir / "clouds.yaml"


def _cloud(settings: Settings, user: str, password: str, project: str) -> dict[str, Any]:
    return {
        "auth": {
            "auth_url": f"{settings.base_url}/identity/v3",
            "username": user,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": "RegionOne",
        "interface": "public",
        "identity_api_version": 3,
    }


def existing_passwords(settings: Settings) -> tuple[str, str] | None:
    """The passwords of an earlier start, so a restart keeps working credentials."""
    path = clouds_path(settings)
    if not path.is_file():
        return None
    data = yaml.safe_load(path.read_text()) or {}
    try:
        clouds = data["clouds"]
        return clouds["stockyard-admin"]["auth"]["password"], clouds["stockyard"]["auth"][
            "password"
        ]
    except (KeyError, TypeError):
        return None


def choose_passwords(settings: Settings) -> tuple[str, str]:
    """Settings win, then an earlier clouds.yaml, then fresh random passwords."""
    earlier = existing_passwords(settings)
    admin = (
        settings.admin_password.get_secret_value()
        if settings.admin_password
        else (earlier[0] if earlier else secrets.token_urlsafe(12))
    )
    demo = (
        settings.demo_password.get_secret_value()
        if settings.demo_password
        else (earlier[1] if earlier else secrets.token_urlsafe(12))
    )
    return admin, demo


def write_clouds_yaml(
    settings: Settings, admin_password: str, demo_password: str, region: str
) -> Path:
    path = clouds_path(settings)
    admin = _cloud(settings, "admin", admin_password, "admin")
    demo = _cloud(settings, "demo", demo_password, "demo")
    admin["region_name"] = demo["region_name"] = region
    doc = {"clouds": {"stockyard-admin": admin, "stockyard": demo}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    os.chmod(path, 0o600)
    return path
