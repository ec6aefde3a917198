"""The dashboard's only way into Stockyard: the public APIs, found in the Keystone catalog.

It does what the ``openstack`` CLI does: password or token auth against Identity v3,
then each service at the ``public`` endpoint the token's catalog names for it. It never
imports Stockyard's models or services; what a user may do is the API's answer (a 403
is shown as the API's message, never second-guessed here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

# Compute microversion the dashboard speaks: 2.64 for server-group rules (failure_domain),
# 2.47 for the flavor embedded in servers; 2.79 is below the API's maximum and keeps
# Nova's 2.x bodies.
COMPUTE_MICROVERSION = "2.79"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class APIFailure(Exception):
    """The API said no (4xx/5xx other than 401): ``message`` is its own words."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Unauthenticated(APIFailure):
    """The token is missing, expired or revoked (401): the user must log in again."""


def error_message(response: httpx.Response) -> str:
    """The human message of an OpenStack error body (compute, identity, image shapes)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
        if "message" in body:
            return str(body["message"])
    return response.reason_phrase


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code == 401:
        raise Unauthenticated(401, error_message(response))
    if response.status_code >= 400:
        raise APIFailure(response.status_code, error_message(response))
    return response


@dataclass
class Token:
    """A scoped Keystone token and what its body said about the caller."""

    id: str
    expires_at: datetime
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: list[str]
    catalog: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_response(cls, response: httpx.Response) -> Token:
        body = response.json()["token"]
        project = body.get("project") or {}
        expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return cls(
            id=response.headers["X-Subject-Token"],
            expires_at=expires,
            user_id=body["user"]["id"],
            user_name=body["user"]["name"],
            project_id=project.get("id", ""),
            project_name=project.get("name", ""),
            roles=[r["name"] for r in body.get("roles", [])],
            catalog=body.get("catalog", []),
        )

    def endpoint(self, service_type: str, interface: str = "public") -> str | None:
        """The URL of ``service_type`` in this token's catalog (first region), if any."""
        for service in self.catalog:
            if service.get("type") != service_type:
                continue
            for ep in service.get("endpoints", []):
                if ep.get("interface") == interface:
                    return str(ep["url"]).rstrip("/")
        return None

    @property
    def expired(self) -> bool:
        return datetime.now(UTC) >= self.expires_at


class Identity:
    """Identity v3 calls that make, change and end a session's token."""

    def __init__(self, http: httpx.AsyncClient, identity_url: str) -> None:
        self.http = http
        self.url = identity_url.rstrip("/")

    async def password(
        self, username: str, password: str, project: str, domain: str = "Default"
    ) -> Token:
        """A project-scoped token for ``username`` (project by name in ``domain``)."""
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": username, "password": password, "domain": {"name": domain}}
                    },
                },
                "scope": {"project": {"name": project, "domain": {"name": domain}}},
            }
        }
        return Token.from_response(
            _check(await self.http.post(f"{self.url}/auth/tokens", json=body))
        )

    async def rescope(self, token: Token, project_id: str) -> Token:
        """A token for another project, from the current one (Keystone's token method)."""
        body = {
            "auth": {
                "identity": {"methods": ["token"], "token": {"id": token.id}},
                "scope": {"project": {"id": project_id}},
            }
        }
        response = await self.http.post(f"{self.url}/auth/tokens", json=body)
        return Token.from_response(_check(response))

    async def projects(self, token: Token) -> list[dict[str, Any]]:
        """Projects the user may scope to (``GET /v3/auth/projects``), by name."""
        response = _check(
            await self.http.get(f"{self.url}/auth/projects", headers={"X-Auth-Token": token.id})
        )
        return sorted(response.json()["projects"], key=lambda p: p["name"])

    async def revoke(self, token: Token) -> None:
        """Revoke the token (``DELETE /v3/auth/tokens``); an already dead one is fine."""
        headers = {"X-Auth-Token": token.id, "X-Subject-Token": token.id}
        response = await self.http.delete(f"{self.url}/auth/tokens", headers=headers)
        if response.status_code not in (204, 401, 404):
            _check(response)


class Cloud:
    """One user's view of the services in its token's catalog."""

    def __init__(self, http: httpx.AsyncClient, token: Token) -> None:
        self.http = http
        self.token = token

    def _url(self, service_type: str, path: str) -> str:
        base = self.token.endpoint(service_type)
        if base is None:
            raise APIFailure(503, f"The catalog has no {service_type} service.")
        return f"{base}{path}"

    def has(self, service_type: str) -> bool:
        return self.token.endpoint(service_type) is not None

    async def request(
        self,
        method: str,
        service_type: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Call ``path`` of ``service_type``; the JSON body (None when empty)."""
        headers = {"X-Auth-Token": self.token.id}
        if service_type == "compute":
            headers["OpenStack-API-Version"] = f"compute {COMPUTE_MICROVERSION}"
        response = _check(
            await self.http.request(
                method, self._url(service_type, path), json=json, params=params, headers=headers
            )
        )
        if not response.content:
            return None
        # orjson: a 1,000-server list is 1.7 MB of JSON, a third faster to read than json's.
        return orjson.loads(response.content)

    async def compute(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.request(method, "compute", path, **kwargs)

    async def image(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.request(method, "image", path, **kwargs)
