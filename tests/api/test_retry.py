"""Requests re-run whole on deadlocks and lost connections, and never blindly.

Faults are injected into the real engine: a statement or COMMIT raises what MariaDB
raises (1213 deadlock, 2013 lost connection), or, on PostgreSQL, the API's own
connection is terminated mid-request.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pymysql
import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from stockyard.api.app import create_app
from stockyard.db.base import make_engine
from stockyard.db.models import Flavor, Image, Project
from tests.conftest import Cloud

RETRY_LOG = "stockyard.api.retry"


def deadlock() -> Exception:
    """What SQLAlchemy raises when MariaDB picks this transaction as a deadlock victim."""
    return OperationalError(
        "INSERT ...",
        {},
        pymysql.err.OperationalError(
            1213, "Deadlock found when trying to get lock; try restarting transaction"
        ),
    )


def refused_commit() -> Exception:
    """The DBAPI error alone, as the driver raises it from COMMIT."""
    return pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")


def lost_connection() -> Exception:
    return pymysql.err.OperationalError(2013, "Lost connection to server during query")


@dataclass
class Fault:
    """Raise ``make()`` at the first ``times`` statements matching ``match`` (or, with
    ``at_commit``, at the COMMIT of the transaction that ran them)."""

    match: Callable[[str], bool]
    make: Callable[[], Exception]
    times: int = 1
    at_commit: bool = False
    seen: int = 0
    raised: int = 0
    _armed: set[int] = field(default_factory=set)


class Faults:
    """Installs :class:`Fault` s on engines and removes them at teardown."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self._undo: list[Callable[[], None]] = []

    def add(self, engine: AsyncEngine, fault: Fault) -> Fault:
        sync = engine.sync_engine

        def before(conn: Connection, _c: Any, statement: str, _p: Any, _x: Any, _m: bool) -> None:
            if not fault.match(statement):
                return
            fault.seen += 1
            if fault.raised >= fault.times:
                return
            if fault.at_commit:
                fault._armed.add(id(conn.connection))
            else:
                fault.raised += 1
                raise fault.make()

        event.listen(sync, "before_cursor_execute", before)
        self._undo.append(lambda: event.remove(sync, "before_cursor_execute", before))
        if fault.at_commit:
            original = sync.dialect.do_commit

            def do_commit(dbapi_connection: Any) -> None:
                if id(dbapi_connection) in fault._armed:
                    fault._armed.discard(id(dbapi_connection))
                    fault.raised += 1
                    # As the server does when it refuses a COMMIT or loses the client.
                    dbapi_connection.rollback()
                    raise fault.make()
                original(dbapi_connection)

            self.monkeypatch.setattr(sync.dialect, "do_commit", do_commit)
        return fault

    def close(self) -> None:
        for undo in reversed(self._undo):
            undo()


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    f = Faults(monkeypatch)
    yield f
    f.close()


def inserts_into(table: str) -> Callable[[str], bool]:
    return lambda statement: statement.lstrip().startswith(f"INSERT INTO {table} ")


def flavor_body(name: str) -> dict[str, Any]:
    return {"flavor": {"name": name, "ram": 512, "vcpus": 1, "disk": 1}}


async def count(cloud: Cloud, model: Any, name: str) -> int:
    async with cloud.state.db.session() as s:
        stmt = select(func.count()).select_from(model).where(model.name == name)
        return int((await s.execute(stmt)).scalar_one())


@pytest.fixture
async def client(cloud: Cloud) -> AsyncIterator[httpx.AsyncClient]:
    """A client that gets the 500 a user would get instead of the app's exception."""
    transport = httpx.ASGITransport(app=create_app(cloud.state), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8774") as c:
        yield c


async def test_deadlock_on_insert_is_rerun_and_writes_once(
    cloud: Cloud, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=RETRY_LOG)
    fault = faults.add(cloud.state.db.engine, Fault(inserts_into("flavors"), deadlock))
    rid = f"req-{uuid.uuid4()}"
    r = await cloud.client.post(
        "/compute/v2.1/flavors",
        json=flavor_body("retry.insert"),
        headers={**cloud.admin, "X-OpenStack-Request-Id": rid},
    )
    assert r.status_code == 200, r.text
    assert r.json()["flavor"]["name"] == "retry.insert"
    assert r.headers["x-openstack-request-id"] == rid
    assert (fault.raised, fault.seen) == (1, 2)
    assert await count(cloud, Flavor, "retry.insert") == 1
    assert rid in caplog.text and "re-running (attempt 2/5)" in caplog.text
    # The failed attempt's session went back to the pool.
    assert cloud.state.db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_deadlock_refusing_commit_is_rerun_without_doubling(
    cloud: Cloud, faults: Faults
) -> None:
    """The first INSERT ran but its COMMIT was refused: rolled back, then written once."""
    fault = faults.add(
        cloud.state.db.engine,
        Fault(inserts_into("flavors"), refused_commit, at_commit=True),
    )
    r = await cloud.client.post(
        "/compute/v2.1/flavors", json=flavor_body("retry.commit"), headers=cloud.admin
    )
    assert r.status_code == 200, r.text
    assert (fault.raised, fault.seen) == (1, 2)
    assert await count(cloud, Flavor, "retry.commit") == 1
    r = await cloud.client.get(
        f"/compute/v2.1/flavors/{r.json()['flavor']['id']}", headers=cloud.admin
    )
    assert r.status_code == 200


async def test_connection_lost_during_commit_is_never_rerun(
    cloud: Cloud, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    """The write may have landed: the user is told so instead of getting it twice."""
    caplog.set_level(logging.WARNING, logger=RETRY_LOG)
    fault = faults.add(
        cloud.state.db.engine, Fault(inserts_into("flavors"), lost_connection, at_commit=True)
    )
    r = await cloud.client.post(
        "/compute/v2.1/flavors", json=flavor_body("retry.lost"), headers=cloud.admin
    )
    assert r.status_code == 503
    body = r.json()["serviceUnavailable"]
    assert body["code"] == 503 and "may or may not have been applied" in body["message"]
    assert (fault.raised, fault.seen) == (1, 1)  # one INSERT: no second attempt
    assert "not re-run" in caplog.text
    assert await count(cloud, Flavor, "retry.lost") == 0  # SQLite never got the COMMIT


async def test_lost_connection_on_a_read_is_rerun(cloud: Cloud, faults: Faults) -> None:
    fault = faults.add(
        cloud.state.db.engine,
        Fault(lambda s: s.lstrip().upper().startswith("SELECT") and "FROM flavors" in s,
              lambda: OperationalError("SELECT ...", {}, lost_connection())),
    )  # fmt: skip
    r = await cloud.client.get("/compute/v2.1/flavors/detail", headers=cloud.demo)
    assert r.status_code == 200, r.text
    assert "flavors" in r.json()
    assert fault.raised == 1 and fault.seen >= 2


async def test_exhausted_attempts_answer_503_in_compute_shape(
    cloud: Cloud, faults: Faults, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=RETRY_LOG)
    fault = faults.add(cloud.state.db.engine, Fault(inserts_into("flavors"), deadlock, 99))
    rid = f"req-{uuid.uuid4()}"
    r = await cloud.client.post(
        "/compute/v2.1/flavors",
        json=flavor_body("retry.busy"),
        headers={**cloud.admin, "X-OpenStack-Request-Id": rid},
    )
    assert r.status_code == 503
    assert r.headers["x-openstack-request-id"] == rid
    assert r.headers["retry-after"] == "1"
    body = r.json()
    assert list(body) == ["serviceUnavailable"]
    assert body["serviceUnavailable"]["code"] == 503
    assert "failed 5 times; nothing was changed" in body["serviceUnavailable"]["message"]
    assert fault.raised == 5
    assert await count(cloud, Flavor, "retry.busy") == 0
    assert "giving up after 5 attempts" in caplog.text and rid in caplog.text


async def test_exhausted_attempts_answer_identity_and_image_shapes(
    cloud: Cloud, faults: Faults
) -> None:
    faults.add(cloud.state.db.engine, Fault(inserts_into("projects"), deadlock, 99))
    faults.add(cloud.state.db.engine, Fault(inserts_into("images"), deadlock, 99))
    r = await cloud.client.post(
        "/identity/v3/projects", json={"project": {"name": "retry-p"}}, headers=cloud.admin
    )
    assert r.status_code == 503
    err = r.json()["error"]
    assert (err["code"], err["title"]) == (503, "Service Unavailable")
    assert await count(cloud, Project, "retry-p") == 0
    r = await cloud.client.post(
        "/image/v2/images",
        json={"name": "retry-img", "disk_format": "qcow2", "container_format": "bare"},
        headers=cloud.demo,
    )
    assert r.status_code == 503
    assert (r.json()["code"], r.json()["title"]) == (503, "Service Unavailable")
    assert await count(cloud, Image, "retry-img") == 0


async def test_image_create_body_is_replayed(cloud: Cloud, faults: Faults) -> None:
    """The handler reads the body itself: the second attempt must see it again."""
    fault = faults.add(cloud.state.db.engine, Fault(inserts_into("images"), deadlock))
    r = await cloud.client.post(
        "/image/v2/images",
        json={"name": "replayed", "disk_format": "qcow2", "container_format": "bare"},
        headers=cloud.demo,
    )
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "replayed"
    assert fault.raised == 1
    assert await count(cloud, Image, "replayed") == 1


async def test_non_retryable_error_is_a_plain_500_once(
    cloud: Cloud, faults: Faults, client: httpx.AsyncClient
) -> None:
    fault = faults.add(
        cloud.state.db.engine, Fault(inserts_into("flavors"), lambda: RuntimeError("bug"), 99)
    )
    r = await client.post(
        "/compute/v2.1/flavors", json=flavor_body("retry.bug"), headers=cloud.admin
    )
    assert r.status_code == 500
    assert r.json()["computeFault"]["code"] == 500
    assert fault.seen == 1


@pytest.mark.backend("postgresql")
async def test_create_after_every_backend_was_terminated(cloud: Cloud, db_url: str) -> None:
    """Pooled connections killed between requests: the next create still succeeds."""
    r = await cloud.client.post(
        "/compute/v2.1/flavors", json=flavor_body("pg.warm"), headers=cloud.admin
    )
    assert r.status_code == 200, r.text
    killer = make_engine(db_url)
    try:
        async with killer.connect() as conn:
            killed = (
                await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).scalar_one()
            await conn.commit()
    finally:
        await killer.dispose()
    assert killed >= 1
    r = await cloud.client.post(
        "/compute/v2.1/flavors", json=flavor_body("pg.after"), headers=cloud.admin
    )
    assert r.status_code == 200, r.text
    assert await count(cloud, Flavor, "pg.after") == 1


def _server_id(conn: Connection) -> int:
    """The server's id for this connection (backend pid / thread id), from the driver."""
    driver: Any = conn.connection.dbapi_connection._connection  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        return int(driver.get_server_pid())
    return int(driver.thread_id())


@pytest.mark.backend("postgresql", "mariadb")
async def test_connection_killed_mid_request_is_rerun(
    cloud: Cloud, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The server kills the API's own connection (``pg_terminate_backend``, ``KILL``)
    just before its INSERT: the request is re-run on a new connection and writes once."""
    caplog.set_level(logging.WARNING, logger=RETRY_LOG)
    killer = make_engine(db_url)
    killed: list[int] = []
    engine = cloud.state.db.engine.sync_engine
    async with killer.connect() as other:

        def kill_self(
            conn: Connection, _c: Any, statement: str, _p: Any, _x: Any, _m: bool
        ) -> None:
            if killed or not inserts_into("flavors")(statement):
                return
            killed.append(_server_id(conn))
            if conn.dialect.name == "postgresql":
                sql = f"SELECT pg_terminate_backend({killed[0]}, 5000)"
            else:
                sql = f"KILL {killed[0]}"
            await_only(other.exec_driver_sql(sql))

        event.listen(engine, "before_cursor_execute", kill_self)
        try:
            r = await cloud.client.post(
                "/compute/v2.1/flavors", json=flavor_body("db.killed"), headers=cloud.admin
            )
        finally:
            event.remove(engine, "before_cursor_execute", kill_self)
    await killer.dispose()
    assert len(killed) == 1
    assert r.status_code == 200, r.text
    assert await count(cloud, Flavor, "db.killed") == 1
    assert "re-running (attempt 2/5)" in caplog.text
