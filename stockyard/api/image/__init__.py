"""Image API v2 (Glance-compatible subset) under /image.

One small module per concern; each has its own router, gathered here into ``router``.
"""

from fastapi import APIRouter

from stockyard.api.image import data, images, listing, members, patch, schemas, versions

router = APIRouter(prefix="/image")
# "/image" itself (no slash): a sub-router may not hold an empty path, so it goes here.
router.add_api_route("", versions.root, methods=["GET"], include_in_schema=False)
for _module in (versions, schemas, listing, images, data, patch, members):
    router.include_router(_module.router)

__all__ = ["router"]
