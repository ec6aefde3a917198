"""Shared fixtures: a fresh database per test, the API app in process, seeded tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stockyard.api.app import create_app
from stockyard.api.state import APIState
from stockyard.bus.memory import MemoryBus
from stockyard.db.base import Database
from stockyard.db.models import Project, User
from stockyard.identity.bootstrap import Seeded, bootstrap
from stockyard.identity.tokens import TokenService
from stockyard.settings import Settings


@dataclass
class Cloud:
    """An API app on a fresh SQLite database, with admin and demo tokens."""

    state: APIState
    client: httpx.AsyncClient
    seeded: Seeded
    admin_token: str
    demo_token: str

    def headers(self, token: str, microversion: str | None = None) -> dict[str, str]:
        h = {"X-Auth-Token": token}
        if microversion:
            h["OpenStack-API-Version"] = f"compute {microversion}"
        return h

    @property
    def admin(self) -> dict[str, str]:
        return self.headers(self.admin_token)

    @property
    def demo(self) -> dict[str, str]:
        return self.headers(self.demo_token)

    async def token_for(self, user_id: str, project_id: str) -> str:
        async with self.state.db.session() as session:
            user = await session.get(User, user_id)
            project = await session.get(Project, project_id)
            assert user is not None and project is not None
            issued = await self.state.tokens.issue(session, user, project, ["password"])
        return issued.token


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, api_port=8774, fake_boot_seconds=0.0)


@pytest.fixture
async def cloud(settings: Settings) -> AsyncIterator[Cloud]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    await db.create_all()
    async with db.session() as session:
        seeded = await bootstrap(session, "admin-pw", "demo-pw")
    bus = MemoryBus()
    state = APIState(
        settings=settings, db=db, tokens=TokenService(settings.token_ttl_seconds), bus=bus
    )
    app = create_app(state)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8774") as client:
        c = Cloud(state, client, seeded, "", "")
        c.admin_token = await c.token_for(seeded.admin_user_id, seeded.admin_project_id)
        c.demo_token = await c.token_for(seeded.demo_user_id, seeded.demo_project_id)
        yield c
    await bus.close()
    await db.dispose()
