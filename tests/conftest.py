"""Shared fixtures: a fresh database per test, the API app in process, seeded tokens."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stockyard.api.app import create_app
from stockyard.api.state import APIState
from stockyard.bus.memory import MemoryBus
from stockyard.db.base import Database
from stockyard.db.models import Project, User
from stockyard.db.testing import BackendUnavailable, create_database, drop_database
from stockyard.identity.bootstrap import Seeded, bootstrap
from stockyard.identity.tokens import TokenService
from stockyard.settings import Settings
from tests.conformance.schemas import response_hook


def _schema_hooks() -> dict[str, list[Callable[[httpx.Response], Awaitable[None]]]]:
    """Validate compute/image responses against Tempest's schemas (tests/conformance).

    On by default; STOCKYARD_SCHEMA_CHECK=0 turns it off (e.g. to bisect a view change).
    """
    if os.environ.get("STOCKYARD_SCHEMA_CHECK", "1") == "0":
        return {}
    return {"response": [response_hook]}


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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "backend(*names): run db_url/cloud on these backends (sqlite, postgresql, mariadb)",
    )


# Under pytest-xdist (`scripts/test` runs `-n 3`), a module's tests stay on one worker, so
# its module-scoped clouds start once and its tests keep their order; the modules that talk
# to the machine's RabbitMQ form one unit, because tests/bus/test_broker_restart.py and
# tests/topology/test_faults.py stop and start that broker. xdist's own `loadgroup` would
# say this with markers, but it works by renaming node ids, which has no effect under
# pytest 9 (measured: a module's tests were spread over the workers).
_BROKER_USERS = ("tests/bus/", "tests/topology/")
# Started first, longest first, so that no long unit is left to start near the end.
_LONG_FIRST = (
    "tests/tempest/",
    "rabbitmq",
    "tests/e2e/test_schemathesis.py",
    "tests/e2e/",
    "tests/lifecycle/test_random_walk.py",  # three walks, one per database backend
)


def _unit_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return "rabbitmq" if path.startswith(_BROKER_USERS) else path


def _rank(unit: str) -> int:
    return next((i for i, p in enumerate(_LONG_FIRST) if unit.startswith(p)), len(_LONG_FIRST))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return _unit_of(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # the queue is complete by the first assignment
                self.ordered = True
                units = sorted(self.workqueue.items(), key=lambda kv: _rank(kv[0]))
                self.workqueue.clear()
                self.workqueue.update(units)
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``@pytest.mark.backend("postgresql", ...)`` parametrizes ``db_url`` (and ``cloud``)."""
    marker = metafunc.definition.get_closest_marker("backend")
    if marker is None or "backend" not in metafunc.fixturenames:
        return
    names = marker.args or ("sqlite", "postgresql", "mariadb")
    metafunc.parametrize("backend", names)


@pytest.fixture
def backend() -> str:
    """The database backend: ``STOCKYARD_TEST_BACKEND`` (default sqlite), or the marker's."""
    return os.environ.get("STOCKYARD_TEST_BACKEND", "sqlite")


async def _fresh_url(backend: str, tmp_path: Path) -> str:
    try:
        return await create_database(backend, sqlite_dir=tmp_path)
    except BackendUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{exc} (CI=true: real databases are required)")
        pytest.skip(str(exc))


@pytest.fixture
async def db_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """URL of a fresh, empty, uniquely-named database, dropped at teardown.

    An unreachable server skips the test, or fails it when CI=true.
    """
    url = await _fresh_url(backend, tmp_path)
    try:
        yield url
    finally:
        await drop_database(url)


@asynccontextmanager
async def _make_cloud(settings: Settings, url: str) -> AsyncIterator[Cloud]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(url)
    await db.create_all()
    async with db.session() as session:
        seeded = await bootstrap(session, "admin-pw", "demo-pw")
    bus = MemoryBus()
    state = APIState(
        settings=settings, db=db, tokens=TokenService(settings.token_ttl_seconds), bus=bus
    )
    app = create_app(state)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://127.0.0.1:8774",
            event_hooks=_schema_hooks(),
        ) as client:
            c = Cloud(state, client, seeded, "", "")
            c.admin_token = await c.token_for(seeded.admin_user_id, seeded.admin_project_id)
            c.demo_token = await c.token_for(seeded.demo_user_id, seeded.demo_project_id)
            yield c
    finally:
        await bus.close()
        await db.dispose()


@pytest.fixture
async def cloud(settings: Settings, db_url: str) -> AsyncIterator[Cloud]:
    """The API on a fresh database: SQLite unless the test carries ``@pytest.mark.backend``."""
    async with _make_cloud(settings, db_url) as c:
        yield c


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
async def cloud_any(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path
) -> AsyncIterator[Cloud]:
    """The ``cloud`` fixture on every backend (one test per backend)."""
    url = await _fresh_url(str(request.param), tmp_path)
    try:
        async with _make_cloud(settings, url) as c:
            yield c
    finally:
        await drop_database(url)
