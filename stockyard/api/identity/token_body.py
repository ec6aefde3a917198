"""The ``token`` body of POST and GET ``/v3/auth/tokens``, as Keystone renders it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.identity.views import iso
from stockyard.api.state import APIState
from stockyard.db.models import Domain, Project, Role, Token, User
from stockyard.db.models.identity import ApplicationCredential
from stockyard.identity.catalog import token_catalog


@dataclass
class TokenFacts:
    """What a token says, however it was obtained (just issued or looked up)."""

    user: User
    methods: list[str]
    audit_id: str
    issued_at: datetime
    expires_at: datetime
    roles: list[str]
    project: Project | None = None
    domain: Domain | None = None
    system: bool = False
    app_cred_id: str | None = None


async def facts_from_row(session: AsyncSession, row: Token) -> TokenFacts:
    user = await session.get(User, row.user_id)
    assert user is not None  # the FK cascades: a token never outlives its user
    project = await session.get(Project, row.project_id) if row.project_id else None
    domain = await session.get(Domain, row.domain_id) if row.domain_id else None
    return TokenFacts(
        user=user,
        methods=list(row.methods),
        audit_id=row.audit_id,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        roles=list(row.roles),
        project=project,
        domain=domain,
        system=row.system,
        app_cred_id=row.app_cred_id,
    )


async def _domain_ref(session: AsyncSession, domain_id: str) -> dict[str, str]:
    domain = await session.get(Domain, domain_id)
    return {"id": domain_id, "name": domain.name if domain else domain_id}


async def render(
    session: AsyncSession, state: APIState, facts: TokenFacts, include_catalog: bool = True
) -> dict[str, Any]:
    """``{"token": {...}}``; scoped tokens carry roles and, unless asked not to, the catalog."""
    body: dict[str, Any] = {
        "methods": facts.methods,
        "user": {
            "id": facts.user.id,
            "name": facts.user.name,
            "domain": await _domain_ref(session, facts.user.domain_id),
            "password_expires_at": None,
        },
        "audit_ids": [facts.audit_id],
        "expires_at": iso(facts.expires_at),
        "issued_at": iso(facts.issued_at),
    }
    scoped = facts.project is not None or facts.domain is not None or facts.system
    if facts.project is not None:
        body["project"] = {
            "id": facts.project.id,
            "name": facts.project.name,
            "domain": await _domain_ref(session, facts.project.domain_id),
        }
        body["is_domain"] = False
    elif facts.domain is not None:
        body["domain"] = {"id": facts.domain.id, "name": facts.domain.name}
    elif facts.system:
        body["system"] = {"all": True}
    if facts.app_cred_id is not None:
        cred = await session.get(ApplicationCredential, facts.app_cred_id)
        if cred is not None:
            body["application_credential"] = {
                "id": cred.id,
                "name": cred.name,
                "restricted": not cred.unrestricted,
            }
    if scoped:
        rows = await session.execute(select(Role.name, Role.id).where(Role.name.in_(facts.roles)))
        ids = {name: rid for name, rid in rows.all()}
        body["roles"] = [{"id": ids.get(name, name), "name": name} for name in facts.roles]
        if include_catalog:
            body["catalog"] = token_catalog(state.settings.base_url, state.regions)
    return {"token": body}
