"""Helpers for the server port tests: an admin request context for service calls."""

from __future__ import annotations

from datetime import timedelta

from stockyard.db.base import utcnow
from stockyard.identity.context import RequestContext


def admin_ctx() -> RequestContext:
    return RequestContext(
        user_id="admin", user_name="admin", project_id="p1", project_name="p1",
        domain_id="default", roles=("admin",), token_digest="", audit_id="",
        expires_at=utcnow() + timedelta(hours=1),
    )  # fmt: skip
