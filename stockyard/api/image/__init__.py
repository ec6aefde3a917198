"""Image API v2 (Glance-compatible subset) under /image."""

from fastapi import APIRouter

router = APIRouter(prefix="/image")
