"""The dashboard on the in-process API: its httpx client reaches the ``cloud`` fixture's
app through an ASGI transport, the test's browser-less client reaches the dashboard the
same way, mounted at ``/dashboard`` as ``stockyard up`` mounts it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from stockyard.api.app import create_app
from stockyard.dashboard.app import create_dashboard
from stockyard.dashboard.web import Dashboard
from stockyard.db.models import Flavor, Host, Image, Region
from tests.conftest import Cloud

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Browserless:
    """A dashboard client with the cookie jar a browser would keep."""

    client: httpx.AsyncClient
    dash: Dashboard
    cloud: Cloud

    async def csrf(self, path: str = "/dashboard/login") -> str:
        page = await self.client.get(path)
        match = CSRF.search(page.text)
        assert match, page.text
        return match.group(1)

    async def login(
        self, user: str = "demo", password: str = "demo-pw", project: str = "demo"
    ) -> httpx.Response:
        token = await self.csrf()
        return await self.client.post(
            "/dashboard/login",
            data={"csrf_token": token, "username": user, "password": password, "project": project},
        )

    async def post(self, path: str, data: dict[str, str], csrf_from: str) -> httpx.Response:
        token = await self.csrf(csrf_from)
        return await self.client.post(path, data={"csrf_token": token, **data})

    def session_token(self) -> str:
        """The Keystone token the dashboard holds for this client's session."""
        sid = self.client.cookies.get("stockyard_session")
        session = self.dash.sessions.get(sid)
        assert session is not None and session.token is not None
        return session.token.id


@pytest.fixture
async def seeded(cloud: Cloud) -> dict[str, str]:
    """A flavor, a public active image and three hosts (az1, racks r0..r2)."""
    async with cloud.state.db.session() as session:
        session.add(Region(id="RegionOne"))
        session.add(Flavor(flavorid="f1", name="m1.small", vcpus=2, ram=2048, disk=20))
        image = Image(
            name="tiny",
            status="active",
            visibility="public",
            disk_format="raw",
            container_format="bare",
            size=10,
            owner=cloud.seeded.admin_project_id,
        )
        session.add(image)
        for i in range(3):
            session.add(
                Host(
                    name=f"h{i}", region="RegionOne", az="az1", rack=f"r{i}",
                    vcpus=16, memory_mb=32768, local_gb=200,
                )
            )  # fmt: skip
        await session.flush()
        image_id = image.id
    return {"flavor": "f1", "image": image_id}


@pytest.fixture
async def web(cloud: Cloud) -> AsyncIterator[Browserless]:
    api = httpx.ASGITransport(app=create_app(cloud.state))
    dashboard = create_dashboard(f"{cloud.state.settings.base_url}/identity/v3", transport=api)
    parent = FastAPI()
    parent.mount("/dashboard", dashboard)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=parent), base_url="http://127.0.0.1:8774"
    ) as client:
        yield Browserless(client, dashboard.state.dashboard, cloud)
    await dashboard.state.dashboard.aclose()
