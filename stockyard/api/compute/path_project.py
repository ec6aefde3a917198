"""Nova's legacy URLs carry the project id (``/v2.1/{project_id}/servers``)."""

from __future__ import annotations

from stockyard.api.deps import ProjectCtx
from stockyard.api.errors import APIError


async def check_path_project(path_project_id: str, ctx: ProjectCtx) -> None:
    """The project id in the URL must be the token's project, as Nova checks it.

    ``ProjectCtx`` is cached per request, so the route's own use of it costs nothing more.
    """
    if path_project_id != ctx.project_id:
        raise APIError(
            400,
            f"Malformed request URL: URL's project_id '{path_project_id}' doesn't match "
            f"Context's project_id '{ctx.project_id}'",
        )
