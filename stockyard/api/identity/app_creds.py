"""``/v3/users/{user_id}/application_credentials``: Keystone's application credentials
(rules in ``stockyard.identity.app_creds``)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import Ctx, SessionDep, StateDep
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import AppCredCreateRequest
from stockyard.api.identity.views import collection_links, v3_url
from stockyard.db.models.identity import ApplicationCredential
from stockyard.identity import app_creds
from stockyard.identity.errors import BadRequest

router = identity_router()


def _path(user_id: str, cred_id: str = "") -> str:
    return f"users/{user_id}/application_credentials/{cred_id}".rstrip("/")


async def _view(
    session: AsyncSession, base_url: str, cred: ApplicationCredential
) -> dict[str, Any]:
    roles = await app_creds.role_refs(session, list(cred.roles))
    return {
        "id": cred.id,
        "name": cred.name,
        "description": cred.description,
        "user_id": cred.user_id,
        "project_id": cred.project_id,
        "roles": [{**role, "domain_id": None} for role in roles],
        # Keystone answers the naive timestamp it was given (microseconds, no "Z").
        "expires_at": cred.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%f") if cred.expires_at else None,
        "unrestricted": cred.unrestricted,
        "access_rules": [],
        "links": {"self": v3_url(base_url, _path(cred.user_id, cred.id))},
    }


@router.post("/v3/users/{user_id}/application_credentials", status_code=201)
async def create_app_cred(
    user_id: str, body: AppCredCreateRequest, ctx: Ctx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    """A new credential for the caller on the token's project; the secret is in this
    answer only."""
    spec = body.application_credential
    if spec.access_rules:
        # Silently dropping them would hand the application more than was asked.
        raise BadRequest(
            "Invalid input for field/attribute application_credential.access_rules: "
            "access rules are not supported; leave them out."
        )
    roles = [ref.model_dump(exclude_none=True) for ref in spec.roles] if spec.roles else None
    cred, secret = await app_creds.create(
        session,
        ctx,
        user_id,
        name=spec.name,
        description=spec.description,
        secret=spec.secret,
        expires_at=spec.expires_at,
        roles=roles,
        unrestricted=spec.unrestricted,
    )
    view = await _view(session, state.settings.base_url, cred)
    await session.commit()
    return {"application_credential": {**view, "secret": secret}}


@router.get("/v3/users/{user_id}/application_credentials")
async def list_app_creds(
    user_id: str, ctx: Ctx, session: SessionDep, state: StateDep, name: str | None = None
) -> dict[str, Any]:
    """The user's credentials (never their secrets), optionally by name."""
    creds = await app_creds.list_for(session, ctx, user_id, name)
    base = state.settings.base_url
    return {
        "application_credentials": [await _view(session, base, c) for c in creds],
        "links": collection_links(base, _path(user_id)),
    }


@router.get("/v3/users/{user_id}/application_credentials/{cred_id}")
async def show_app_cred(
    user_id: str, cred_id: str, ctx: Ctx, session: SessionDep, state: StateDep
) -> dict[str, Any]:
    cred = await app_creds.get(session, ctx, user_id, cred_id)
    return {"application_credential": await _view(session, state.settings.base_url, cred)}


@router.delete("/v3/users/{user_id}/application_credentials/{cred_id}", status_code=204)
async def delete_app_cred(
    user_id: str, cred_id: str, ctx: Ctx, session: SessionDep, state: StateDep
) -> Response:
    """Delete it; tokens issued with it stop working at once here, within the token
    cache's few seconds in other API processes."""
    await app_creds.delete(session, ctx, user_id, cred_id)
    await session.commit()
    state.tokens.forget_all()
    return Response(status_code=204)
