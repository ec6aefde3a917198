"""Keypairs (``os-keypairs``): per user; generated server-side or imported."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.compute import keypair_crypto
from stockyard.api.compute.common import (
    commit_or_conflict,
    iso,
    paginate,
    parse_body,
    parse_limit,
)
from stockyard.api.compute.quota_engine import bind_settings, check_quota
from stockyard.api.deletes import delete_or_404
from stockyard.api.deps import Microversion, ProjectCtx, SessionDep, StateDep, WriterCtx
from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion
from stockyard.db.models import KeyPair
from stockyard.identity.context import RequestContext

router = APIRouter()

# Nova's keypair name charset before 2.92: letters, digits, '.', '_', '-', inner spaces.
_NAME = re.compile(r"^(?! )[a-zA-Z0-9. _-]+(?<! )$")
# 2.92 adds '@' to the characters of a name (Nova's keypair_name_special_chars_292).
_NAME_292 = re.compile(r"^(?! )[a-zA-Z0-9.@ _-]+(?<! )$")


class KeypairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    public_key: str | None = None
    type: Literal["ssh", "x509"] | None = None
    user_id: str | None = Field(default=None, min_length=1, max_length=255)


class KeypairCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keypair: KeypairCreate


def _view(kp: KeyPair, version: APIVersion, *, full: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": kp.name,
        "public_key": kp.public_key,
        "fingerprint": kp.fingerprint,
    }
    if version.at_least("2.2"):
        body["type"] = kp.type
    if full:
        body.update(
            {
                "user_id": kp.user_id,
                "id": kp.id,
                "created_at": iso(kp.created_at),
                "updated_at": None,
                "deleted_at": None,
                "deleted": False,
            }
        )
    return body


def _target_user(ctx: RequestContext, version: APIVersion, user_id: str | None) -> str:
    """Whose keypairs: the caller's, or (admin, 2.10+) the named user's."""
    if user_id is None or user_id == ctx.user_id:
        return ctx.user_id
    if not version.at_least("2.10"):
        raise APIError(400, "Invalid input for field/attribute user_id: needs microversion 2.10.")
    if not ctx.is_admin:
        raise APIError(403, "Policy doesn't allow acting on another user's keypairs.")
    return user_id


def _not_found(user_id: str, name: str) -> str:
    return f"Keypair {name} not found for user {user_id}"


async def _get(session: AsyncSession, user_id: str, name: str) -> KeyPair:
    kp = await session.scalar(
        select(KeyPair).where(KeyPair.user_id == user_id, KeyPair.name == name)
    )
    if kp is None:
        raise APIError(404, _not_found(user_id, name))
    return kp


UserQuery = Annotated[str | None, Query()]


@router.get("/os-keypairs")
async def list_keypairs(
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    user_id: UserQuery = None,
    limit: UserQuery = None,
    marker: UserQuery = None,
) -> dict[str, Any]:
    owner = _target_user(ctx, version, user_id)
    if (limit is not None or marker is not None) and not version.at_least("2.35"):
        raise APIError(400, "Query parameters limit and marker need microversion 2.35.")
    rows = await session.scalars(
        select(KeyPair).where(KeyPair.user_id == owner).order_by(KeyPair.name)
    )
    page = paginate(list(rows.all()), "name", marker, parse_limit(limit))
    return {"keypairs": [{"keypair": _view(k, version, full=False)} for k in page]}


@router.get("/os-keypairs/{name}")
async def show_keypair(
    name: str,
    session: SessionDep,
    ctx: ProjectCtx,
    version: Microversion,
    user_id: UserQuery = None,
) -> dict[str, Any]:
    kp = await _get(session, _target_user(ctx, version, user_id), name)
    return {"keypair": _view(kp, version, full=True)}


@router.post("/os-keypairs")
async def create_keypair(
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
    state: StateDep,
    response: Response,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    """Import ``public_key`` or (before 2.92) generate a pair; a generated private key is
    returned once and never stored."""
    req = parse_body(KeypairCreateBody, body).keypair
    if req.type is not None and not version.at_least("2.2"):
        raise APIError(400, "Invalid input for field/attribute type: needs microversion 2.2.")
    if req.public_key is None and version.at_least("2.92"):
        # 2.92: no server-side generation any more; the user brings the key.
        raise APIError(
            400,
            "Invalid input for field/attribute keypair. Value: {...}. "
            "'public_key' is a required property",
        )
    if not (_NAME_292 if version.at_least("2.92") else _NAME).match(req.name):
        raise APIError(
            400,
            f"Invalid input for field/attribute name. Value: {req.name!r}. Keypair names may "
            "only hold letters, digits, '.', '_', '-' and inner spaces.",
        )
    owner = _target_user(ctx, version, req.user_id)
    key_type = req.type or "ssh"
    private_key: str | None = None
    if req.public_key is not None:
        try:
            public_key = req.public_key.strip()
            fp = keypair_crypto.fingerprint(key_type, public_key)
        except keypair_crypto.InvalidKey as exc:
            raise APIError(400, f"Invalid input for field/attribute public_key: {exc}") from None
    else:
        generate = (
            keypair_crypto.generate_x509 if key_type == "x509" else keypair_crypto.generate_ssh
        )
        # RSA generation takes tens of milliseconds: keep it off the event loop.
        private_key, public_key = await asyncio.to_thread(generate, req.name)
        fp = keypair_crypto.fingerprint(key_type, public_key)
    bind_settings(session, state.settings)
    await check_quota(session, ctx.project_id or "", owner, {"key_pairs": 1})
    if await session.scalar(
        select(KeyPair.id).where(KeyPair.user_id == owner, KeyPair.name == req.name)
    ):
        raise APIError(409, f"Key pair '{req.name}' already exists.")
    kp = KeyPair(
        name=req.name,
        user_id=owner,
        project_id=ctx.project_id or "",
        public_key=public_key,
        fingerprint=fp,
        type=key_type,
    )
    session.add(kp)
    await commit_or_conflict(session, f"Key pair '{req.name}' already exists.")
    view = _view(kp, version, full=False)
    view["user_id"] = owner
    if private_key is not None:
        view["private_key"] = private_key
    response.status_code = 201 if version.at_least("2.2") else 200
    return {"keypair": view}


@router.delete("/os-keypairs/{name}")
async def delete_keypair(
    name: str,
    session: SessionDep,
    ctx: WriterCtx,
    version: Microversion,
    user_id: UserQuery = None,
) -> Response:
    owner = _target_user(ctx, version, user_id)
    kp = await _get(session, owner, name)
    await delete_or_404(session, kp, _not_found(owner, name))
    await session.commit()
    return Response(status_code=204 if version.at_least("2.2") else 202)
