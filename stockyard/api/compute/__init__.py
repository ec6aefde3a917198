"""Compute API v2.1 (Nova-compatible subset) under /compute."""

from fastapi import APIRouter

router = APIRouter(prefix="/compute")
