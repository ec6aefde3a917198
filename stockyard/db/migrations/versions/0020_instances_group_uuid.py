"""instances.group_uuid index

Placing a member of a server group reads the group's placed members under the group's
lock (``stockyard.placement.claims.group_member_hosts``). Without an index on
``group_uuid`` (and with an OR that no index serves) that read scanned every instance:
62 ms p50 / 263 ms p99 per placement with 100,000 instances on PostgreSQL
(bench/bench_scale.py), most of a claim transaction.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_instances_group_uuid", "instances", ["group_uuid"])


def downgrade() -> None:
    op.drop_index("ix_instances_group_uuid", table_name="instances")
