"""instances.vcpus and instances.memory_mb: the flavor snapshot's sizes as columns

A create's quota check summed ``flavor['vcpus']`` and ``flavor['ram']`` over every live
server of the project, parsing each row's JSON. With 600 to 1,200 servers in the project
that sum was about half of the API's CPU per create (``bench/bench_api.py --creates
600``, py-spy), and it grows with the project. The sizes are now columns, written with
the flavor, and summed from an index.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(sa.Column("vcpus", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("memory_mb", sa.Integer(), server_default="0", nullable=False))
    instances = sa.table("instances", sa.column("flavor", sa.JSON()), sa.column("vcpus"),
                         sa.column("memory_mb"))  # fmt: skip
    flavor = instances.c.flavor
    op.execute(
        instances.update().values(
            vcpus=sa.func.coalesce(flavor["vcpus"].as_integer(), 0),
            memory_mb=sa.func.coalesce(flavor["ram"].as_integer(), 0),
        )
    )
    op.create_index(
        "ix_instances_project_usage",
        "instances",
        ["project_id", "deleted", "vcpus", "memory_mb"],
    )


def downgrade() -> None:
    op.drop_index("ix_instances_project_usage", table_name="instances")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("memory_mb")
        batch.drop_column("vcpus")
