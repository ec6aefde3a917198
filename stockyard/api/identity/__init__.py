"""Identity API v3 (Keystone-compatible subset) under /identity."""

from fastapi import APIRouter

router = APIRouter(prefix="/identity")
