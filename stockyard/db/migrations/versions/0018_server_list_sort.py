"""server list sort indexes

The server list's order (``created_at`` then ``id``, newest first, marker pagination on
the same pair) read from an index instead of sorting every matching row: a project's list
by ``(project_id, deleted, created_at, id)``, an admin's ``all_tenants`` list by
``(deleted, created_at, id)``. Measured on SQLite with 100,000 servers: ``all_tenants``
``limit=100`` 105 ms -> 0.7 ms, ``limit=1000`` brief 127 ms -> 3 ms. The old
``(project_id, deleted)`` index is a prefix of the new one and goes.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 11:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_instances_project_created",
        "instances",
        ["project_id", "deleted", "created_at", "id"],
    )
    op.create_index("ix_instances_deleted_created", "instances", ["deleted", "created_at", "id"])
    op.drop_index("ix_instances_project_deleted", table_name="instances")


def downgrade() -> None:
    op.create_index("ix_instances_project_deleted", "instances", ["project_id", "deleted"])
    op.drop_index("ix_instances_deleted_created", table_name="instances")
    op.drop_index("ix_instances_project_created", table_name="instances")
