"""Keystone's inexact list filters on names (``?name__icontains=web``), for every list
that filters by name."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from stockyard.identity.service import INEXACT_OPS


async def inexact_name(request: Request) -> dict[str, str]:
    """The ``name__<op>`` query parameters with an operator Keystone documents."""
    return {
        key: value
        for key, value in request.query_params.items()
        if key.startswith("name__") and key.removeprefix("name__") in INEXACT_OPS
    }


NameOps = Annotated[dict[str, str], Depends(inexact_name)]
