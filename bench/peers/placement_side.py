"""The OpenStack Placement side of the peer bench; runs in ``bench/peers/.venv``.

Not Stockyard code: this file is executed by the peer's own interpreter (created by
``bench/peers/install-placement``), driven by ``bench_placement.py`` as subprocesses:

    placement_side.py init  DIR URL   fresh database, DIR/placement.conf, ``db sync``
    placement_side.py serve DIR PORT  Placement's WSGI app on 127.0.0.1:PORT
    placement_side.py load  DIR FILE  bulk-insert the fleet in FILE (JSON) with SQL

The REST API would take tens of minutes for 30,000 providers with inventories,
aggregates, traits and allocations, so ``load`` writes Placement's own tables directly
(through its SQLAlchemy models, so the columns are Placement's); the caller then checks
the result through the REST API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import sqlalchemy as sa
from placement.db.sqlalchemy import models

CONF = """[DEFAULT]
debug = False
use_stderr = True
[api]
auth_strategy = noauth2
[placement_database]
connection = {url}
"""


def init(workdir: Path, url: str) -> None:
    """Create a fresh database at ``url`` (dropping an old one), write the config, sync."""
    server_url, _, name = url.rpartition("/")
    admin_db = "postgres" if url.startswith("postgresql") else ""
    engine = sa.create_engine(f"{server_url}/{admin_db}", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "placement.conf"
    conf.write_text(CONF.format(url=url))
    manage = Path(sys.executable).parent / "placement-manage"
    subprocess.run([str(manage), "--config-file", str(conf), "db", "sync"], check=True)


class QuietHandler(WSGIRequestHandler):
    """No access log line per request: the bench times requests, not stderr writes."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(workdir: Path, port: int) -> None:
    """Serve Placement's WSGI application (the one its docs deploy under uWSGI/mod_wsgi)."""
    os.environ["OS_PLACEMENT_CONFIG_DIR"] = str(workdir)
    from placement.wsgi import api  # imported late: it reads the config at import

    httpd = make_server("127.0.0.1", port, api.application, handler_class=QuietHandler)
    print("listening", flush=True)
    httpd.serve_forever()


def _url(workdir: Path) -> str:
    for line in (workdir / "placement.conf").read_text().splitlines():
        if line.startswith("connection = "):
            return line.split(" = ", 1)[1]
    raise SystemExit("no connection in placement.conf")


def load(workdir: Path, fleet_file: Path) -> None:
    """Insert providers, inventories, aggregates, traits and usage (allocations)."""
    fleet = json.loads(fleet_file.read_text())
    engine = sa.create_engine(_url(workdir))
    t = {name: models.BASE.metadata.tables[name] for name in models.BASE.metadata.tables}
    with engine.begin() as conn:
        rc_ids = dict(
            conn.execute(sa.select(t["resource_classes"].c.name, t["resource_classes"].c.id)).all()
        )
        trait_ids = dict(conn.execute(sa.select(t["traits"].c.name, t["traits"].c.id)).all())
        for name in fleet["resource_classes"]:
            if name not in rc_ids:
                # Custom classes start at 10000, as Placement numbers them.
                rc_id = max([10000, *(i + 1 for i in rc_ids.values() if i >= 10000)])
                conn.execute(t["resource_classes"].insert().values(id=rc_id, name=name))
                rc_ids[name] = rc_id
        for name in fleet["traits"]:
            if name not in trait_ids:
                res = conn.execute(t["traits"].insert().values(name=name))
                trait_ids[name] = res.inserted_primary_key[0]
        agg_ids: dict[str, int] = {}
        for agg_uuid in fleet["aggregates"]:
            res = conn.execute(t["placement_aggregates"].insert().values(uuid=agg_uuid))
            agg_ids[agg_uuid] = res.inserted_primary_key[0]
        project = conn.execute(
            t["projects"].insert().values(external_id="bench")
        ).inserted_primary_key[0]
        user = conn.execute(t["users"].insert().values(external_id="bench")).inserted_primary_key[0]
        providers, inventories, rp_aggs, rp_traits, consumers, allocations = [], [], [], [], [], []
        for rp_id, rp in enumerate(fleet["providers"], start=1):
            providers.append(
                {
                    "id": rp_id,
                    "uuid": rp["uuid"],
                    "name": rp["name"],
                    "generation": 1,
                    "root_provider_id": rp_id,
                    "parent_provider_id": None,
                }
            )
            for rc, (total, ratio, max_unit) in rp["inventory"].items():
                inventories.append(
                    {
                        "resource_provider_id": rp_id,
                        "resource_class_id": rc_ids[rc],
                        "total": total,
                        "reserved": 0,
                        "min_unit": 1,
                        "max_unit": max_unit,
                        "step_size": 1,
                        "allocation_ratio": ratio,
                    }
                )
            rp_aggs.extend(
                {"resource_provider_id": rp_id, "aggregate_id": agg_ids[a]}
                for a in rp["aggregates"]
            )
            rp_traits.extend(
                {"resource_provider_id": rp_id, "trait_id": trait_ids[n]} for n in rp["traits"]
            )
            if rp["used"]:
                consumer = str(uuid.uuid4())
                consumers.append(
                    {"uuid": consumer, "project_id": project, "user_id": user, "generation": 1}
                )
                allocations.extend(
                    {
                        "resource_provider_id": rp_id,
                        "consumer_id": consumer,
                        "resource_class_id": rc_ids[rc],
                        "used": used,
                    }
                    for rc, used in rp["used"].items()
                )
        for table, rows in (
            ("resource_providers", providers),
            ("inventories", inventories),
            ("resource_provider_aggregates", rp_aggs),
            ("resource_provider_traits", rp_traits),
            ("consumers", consumers),
            ("allocations", allocations),
        ):
            if rows:
                conn.execute(t[table].insert(), rows)
        if engine.dialect.name == "postgresql":
            # Explicit ids leave the sequence behind; keep later REST writes working.
            conn.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('resource_providers', 'id'), :n)"),
                {"n": len(providers)},
            )
    # Fresh statistics, as a long-lived database would have: the planner's choices
    # over 30,000 providers depend on them.
    # Committed: PostgreSQL's ANALYZE is transactional and a rollback would drop it.
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
        else:
            conn.execute(sa.text("ANALYZE TABLE " + ", ".join(t)))
    print(
        f"loaded {len(providers)} providers, {len(inventories)} inventories,"
        f" {len(allocations)} allocations"
    )


if __name__ == "__main__":
    command, workdir, arg = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    if command == "init":
        init(workdir, arg)
    elif command == "serve":
        serve(workdir, int(arg))
    elif command == "load":
        load(workdir, Path(arg))
    else:
        raise SystemExit(f"unknown command {command}")
