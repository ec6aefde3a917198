"""``/v3/auth/*``: issue, validate and revoke tokens; the caller's catalog and projects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from stockyard.api.deps import Ctx, SessionDep, StateDep
from stockyard.api.identity.route import identity_router
from stockyard.api.identity.schemas import AppCredMethod, AuthRequest, DomainRef, Identity, Scope
from stockyard.api.identity.token_body import TokenFacts, facts_from_row, render
from stockyard.api.identity.views import collection_links, domain_view, project_view
from stockyard.api.state import APIState
from stockyard.db.models import Domain, Project, Token
from stockyard.identity import app_creds, auth, service
from stockyard.identity.catalog import token_catalog
from stockyard.identity.context import RequestContext
from stockyard.identity.errors import BadRequest, Forbidden, NotFound, Unauthorized
from stockyard.identity.tokens import TokenError, assigned_role_names, digest

router = identity_router()

SubjectToken = Annotated[str | None, Header(alias="X-Subject-Token")]
SUPPORTED_METHODS = {"password", "token", app_creds.METHOD}


def _domain_ref(ref: DomainRef | None, field: str) -> tuple[str | None, str | None]:
    if ref is None:
        raise BadRequest(f"Invalid input for field/attribute {field}: a domain is required.")
    if ref.id is None and ref.name is None:
        raise BadRequest(f"Invalid input for field/attribute {field}: give its id or name.")
    return ref.id, ref.name


async def _authenticate(
    session: AsyncSession, state: APIState, identity: Identity, request: Request
) -> auth.Subject:
    """The user the identity methods prove, with the methods the token will list."""
    methods = list(dict.fromkeys(identity.methods))
    if not set(methods) <= SUPPORTED_METHODS:
        raise Unauthorized("Attempted to authenticate with an unsupported method.")
    if app_creds.METHOD in methods:
        if methods != [app_creds.METHOD]:
            raise Unauthorized("An application credential is the only method of its request.")
        return await _app_cred_subject(session, identity.application_credential)
    subject: auth.Subject | None = None
    if "token" in methods:
        token_id = identity.token.id if identity.token else None
        token_id = token_id or request.headers.get("x-auth-token")
        if not token_id:
            raise BadRequest("Invalid input for field/attribute auth.identity.token.id: required.")
        subject = await auth.token_auth(session, state.tokens, token_id)
        subject.methods = list(dict.fromkeys(methods + subject.methods))
    if "password" in methods:
        if identity.password is None:
            raise BadRequest("Invalid input for field/attribute auth.identity.password: required.")
        spec = identity.password.user
        ref = auth.Ref(id=spec.id)
        if spec.id is None:
            if spec.name is None:
                raise BadRequest(
                    "Invalid input for field/attribute auth.identity.password.user: "
                    "give its id, or its name and domain."
                )
            dom_id, dom_name = _domain_ref(spec.domain, "auth.identity.password.user.domain")
            ref = auth.Ref(name=spec.name, domain_id=dom_id, domain_name=dom_name)
        user = await auth.password_auth(session, ref, spec.password)
        if subject is not None and subject.user.id != user.id:
            raise Unauthorized(auth.AUTH_FAILED)
        subject = subject or auth.Subject(user=user, methods=methods)
    assert subject is not None  # methods is non-empty and a subset of the supported ones
    return subject


async def _app_cred_subject(session: AsyncSession, spec: AppCredMethod | None) -> auth.Subject:
    field = "auth.identity.application_credential"
    if spec is None:
        raise BadRequest(f"Invalid input for field/attribute {field}: required.")
    user = None
    if spec.id is None:
        if spec.name is None or spec.user is None:
            raise BadRequest(
                f"Invalid input for field/attribute {field}: give its id, or its name and user."
            )
        ref = auth.Ref(id=spec.user.id)
        if spec.user.id is None:
            dom_id, dom_name = _domain_ref(spec.user.domain, f"{field}.user.domain")
            ref = auth.Ref(name=spec.user.name, domain_id=dom_id, domain_name=dom_name)
        user = await auth.find_user(session, ref)
        if user is None:
            raise Unauthorized(auth.AUTH_FAILED)
    cred, owner, project, roles = await app_creds.authenticate(
        session, cred_id=spec.id, name=spec.name, user=user, secret=spec.secret
    )
    return auth.Subject(
        user=owner,
        methods=[app_creds.METHOD],
        expires_at=cred.expires_at,
        delegation=(cred.id, project, roles),
    )


@dataclass
class Scoped:
    """What a token is scoped to: a project, a domain, the system, or nothing."""

    project: Project | None = None
    domain: Domain | None = None
    system: bool = False


async def _scope(session: AsyncSession, subject: auth.Subject, scope: Scope | str | None) -> Scoped:
    if scope == "unscoped":
        return Scoped()
    if scope is None or isinstance(scope, str):
        # Only a fresh password login falls back to the default project, as Keystone.
        if subject.methods == ["password"]:
            return Scoped(project=await auth.default_project(session, subject.user))
        return Scoped()
    given = [k for k in ("project", "domain", "system") if getattr(scope, k) is not None]
    if len(given) > 1:
        raise BadRequest(f"Scoping to more than one of {' and '.join(given)} is not allowed.")
    if scope.system is not None:
        if scope.system != {"all": True}:
            raise BadRequest(
                'Invalid input for field/attribute auth.scope.system: must be {"all": true}.'
            )
        await auth.scope_system(session, subject.user)
        return Scoped(system=True)
    if scope.project is not None:
        ref = auth.Ref(id=scope.project.id)
        if scope.project.id is None:
            if scope.project.name is None:
                raise BadRequest(
                    "Invalid input for field/attribute auth.scope.project: give its id, "
                    "or its name and domain."
                )
            dom_id, dom_name = _domain_ref(scope.project.domain, "auth.scope.project.domain")
            ref = auth.Ref(name=scope.project.name, domain_id=dom_id, domain_name=dom_name)
        return Scoped(project=await auth.scope_project(session, subject.user, ref))
    if scope.domain is not None:
        dom_id, dom_name = _domain_ref(scope.domain, "auth.scope.domain")
        ref = auth.Ref(id=dom_id, name=dom_name)
        return Scoped(domain=await auth.scope_domain(session, subject.user, ref))
    return Scoped()


@router.post("/v3/auth/tokens", status_code=201)
async def issue_token(
    body: AuthRequest, request: Request, session: SessionDep, state: StateDep
) -> JSONResponse:
    """Authenticate (password or token method) and issue a token for the asked scope."""
    subject = await _authenticate(session, state, body.auth.identity, request)
    delegated: tuple[str, list[str]] | None = None
    if subject.delegation is not None:
        if body.auth.scope is not None:
            raise Unauthorized("Application credentials cannot request a scope.")
        cred_id, project, roles = subject.delegation
        scoped, delegated = Scoped(project=project), (cred_id, roles)
    else:
        scoped = await _scope(session, subject, body.auth.scope)
    issued = await state.tokens.issue(
        session,
        subject.user,
        scoped.project,
        subject.methods,
        expires_at=subject.expires_at,
        domain_scope=scoped.domain.id if scoped.domain else None,
        system=scoped.system,
        delegated=delegated,
    )
    await session.commit()
    facts = TokenFacts(
        user=subject.user,
        methods=issued.methods,
        audit_id=issued.context.audit_id,
        issued_at=issued.issued_at,
        expires_at=issued.context.expires_at,
        roles=list(issued.context.roles),
        project=scoped.project,
        domain=scoped.domain,
        system=scoped.system,
        app_cred_id=delegated[0] if delegated else None,
    )
    content = await render(session, state, facts, "nocatalog" not in request.query_params)
    return JSONResponse(content, status_code=201, headers={"X-Subject-Token": issued.token})


async def _subject(
    session: AsyncSession, state: APIState, ctx: RequestContext, subject: str | None
) -> Token:
    """The live token named by X-Subject-Token, if the caller may see it."""
    if not subject:
        raise BadRequest("Invalid input for field/attribute X-Subject-Token: header required.")
    try:
        sub_ctx = await state.tokens.validate(session, subject)
    except TokenError:
        raise NotFound("Could not find token.") from None
    if not ctx.is_admin and sub_ctx.user_id != ctx.user_id:
        raise Forbidden("You are not authorized to perform the requested action.")
    row = await session.get(Token, digest(subject))
    if row is None:
        raise NotFound("Could not find token.")
    return row


@router.get("/v3/auth/tokens")
async def validate_token(
    ctx: Ctx, subject: SubjectToken, request: Request, session: SessionDep, state: StateDep
) -> JSONResponse:
    """The body of the subject token; the caller's own, or any token for an admin."""
    row = await _subject(session, state, ctx, subject)
    facts = await facts_from_row(session, row)
    content = await render(session, state, facts, "nocatalog" not in request.query_params)
    return JSONResponse(content, headers={"X-Subject-Token": subject or ""})


@router.head("/v3/auth/tokens")
async def check_token(
    ctx: Ctx, subject: SubjectToken, session: SessionDep, state: StateDep
) -> Response:
    """200 if the subject token is valid, 404 if not."""
    await _subject(session, state, ctx, subject)
    return Response(status_code=200, headers={"X-Subject-Token": subject or ""})


@router.delete("/v3/auth/tokens", status_code=204)
async def revoke_token(
    ctx: Ctx, subject: SubjectToken, session: SessionDep, state: StateDep
) -> Response:
    """Revoke the subject token; it is refused everywhere from now on."""
    await _subject(session, state, ctx, subject)
    await state.tokens.revoke(session, subject or "")
    await session.commit()
    return Response(status_code=204)


@router.get("/v3/auth/catalog")
async def auth_catalog(ctx: Ctx, state: StateDep) -> dict[str, Any]:
    """The catalog of the caller's (scoped) token."""
    if ctx.project_id is None and not ctx.roles:
        raise Forbidden("The service catalog is not available for an unscoped token.")
    return {
        "catalog": token_catalog(state.settings.base_url, state.regions),
        "links": collection_links(state.settings.base_url, "auth/catalog"),
    }


@router.get("/v3/auth/projects")
async def auth_projects(ctx: Ctx, session: SessionDep, state: StateDep) -> dict[str, Any]:
    """Projects on which the caller holds a role: what it may scope a token to."""
    base = state.settings.base_url
    projects = await service.user_projects(session, ctx.user_id)
    return {
        "projects": [project_view(base, p) for p in projects],
        "links": collection_links(base, "auth/projects"),
    }


@router.get("/v3/auth/domains")
async def auth_domains(ctx: Ctx, session: SessionDep, state: StateDep) -> dict[str, Any]:
    """Domains on which the caller holds a role."""
    base = state.settings.base_url
    domains = await service.user_domains(session, ctx.user_id)
    return {
        "domains": [domain_view(base, d) for d in domains],
        "links": collection_links(base, "auth/domains"),
    }


@router.get("/v3/auth/system")
async def auth_system(ctx: Ctx, session: SessionDep, state: StateDep) -> dict[str, Any]:
    """The systems the caller may scope a token to: ``[{"all": true}]`` if it holds a
    role on the system (directly or through a group), else none."""
    held = await assigned_role_names(session, ctx.user_id, system=True)
    return {
        "system": [{"all": True}] if held else [],
        "links": collection_links(state.settings.base_url, "auth/system"),
    }
