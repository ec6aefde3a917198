"""A cloud (API on a fresh database) with a volume role on the same in-process bus,
serving the file backend from the test's directory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from stockyard.volume.service import VolumeService
from tests.conftest import Cloud


@pytest.fixture
async def volumes(cloud: Cloud) -> AsyncIterator[VolumeService]:
    """The volume role of ``cloud`` (reconciler driven by the tests, not a timer)."""
    await cloud.state.bus.start()
    service = VolumeService(cloud.state.db, cloud.state.bus, cloud.state.settings)
    await service.start(background=False)
    try:
        yield service
    finally:
        await service.stop()
