"""Deprecated Nova APIs that later microversions removed: from that version on, Nova
answers 404 as if the URL did not exist (``VersionNotFoundForAPIMethod``)."""

from __future__ import annotations

from stockyard.api.errors import APIError
from stockyard.api.microversion import APIVersion


def require_before(version: APIVersion, removed_at: str) -> None:
    """404 when the request runs at ``removed_at`` or later."""
    if version.at_least(removed_at):
        raise APIError(404, "The resource could not be found.")
