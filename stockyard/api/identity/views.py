"""Keystone-shaped bodies for identity resources, each with its ``links``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from stockyard.db.models import Domain, Group, Project, Role, User


def v3_url(base_url: str, path: str = "") -> str:
    return f"{base_url}/identity/v3/{path}".rstrip("/")


def collection_links(base_url: str, path: str) -> dict[str, Any]:
    return {"self": v3_url(base_url, path), "previous": None, "next": None}


def iso(moment: datetime) -> str:
    """Keystone's timestamp format: microseconds and a literal Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def domain_view(base_url: str, domain: Domain) -> dict[str, Any]:
    return {
        "id": domain.id,
        "name": domain.name,
        "description": domain.description,
        "enabled": domain.enabled,
        "tags": [],
        "options": {},
        "links": {"self": v3_url(base_url, f"domains/{domain.id}")},
    }


def project_view(base_url: str, project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "domain_id": project.domain_id,
        "description": project.description,
        "enabled": project.enabled,
        # Projects are flat: the parent of a top-level project is its domain.
        "parent_id": project.domain_id,
        "is_domain": False,
        "tags": list((project.extra or {}).get("tags", [])),
        "options": {},
        "links": {"self": v3_url(base_url, f"projects/{project.id}")},
    }


def user_view(base_url: str, user: User) -> dict[str, Any]:
    """Never the password or its hash."""
    body: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "domain_id": user.domain_id,
        "enabled": user.enabled,
        "default_project_id": user.default_project_id,
        "password_expires_at": None,
        "options": {},
        "links": {"self": v3_url(base_url, f"users/{user.id}")},
    }
    if user.email is not None:
        body["email"] = user.email
    if user.description:
        body["description"] = user.description
    return body


def role_view(base_url: str, role: Role) -> dict[str, Any]:
    return {
        "id": role.id,
        "name": role.name,
        "domain_id": None,
        "description": role.description,
        "options": {},
        "links": {"self": v3_url(base_url, f"roles/{role.id}")},
    }


def group_view(base_url: str, group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "domain_id": group.domain_id,
        "description": group.description,
        "links": {"self": v3_url(base_url, f"groups/{group.id}")},
    }
