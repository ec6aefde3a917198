"""Identity API v3 (Keystone-compatible subset) under /identity."""

from fastapi import APIRouter

from stockyard.api.identity import (
    app_creds,
    auth,
    catalog,
    domains,
    groups,
    project_tags,
    projects,
    roles,
    users,
    versions,
)

PREFIX = "/identity"

# The prefix goes on each include rather than on this router: the discovery route is the
# bare prefix itself (path ""), which FastAPI only accepts with a prefix on the include.
router = APIRouter()
for _module in (
    versions,
    auth,
    catalog,
    domains,
    projects,
    project_tags,
    users,
    groups,
    roles,
    app_creds,
):
    router.include_router(_module.router, prefix=PREFIX)

__all__ = ["router"]
