"""The caller of an API request, as established from its token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RequestContext:
    """Who is calling, in which project, with which roles.

    ``is_admin`` means the admin role on the token's scope (a project, a domain or the
    system): admin-only calls (flavor create, aggregates, hypervisors, other projects'
    resources) require it.
    """

    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    domain_id: str
    roles: tuple[str, ...]
    token_digest: str
    audit_id: str
    expires_at: datetime
    request_id: str = ""
    # A system-scoped token: its roles are held on the whole deployment.
    system_scope: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def can_write(self) -> bool:
        """Readers may look but not change."""
        return self.is_admin or "member" in self.roles
