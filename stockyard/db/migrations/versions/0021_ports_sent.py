"""instances.ports_sent_rev / ports_sent_at: which ``update_ports`` is in flight

The conductors' port sync sent ``update_ports`` to every server owing one on every pass,
so with two conductors each op went out twice, and a server whose answer had not come
back yet got it again each pass (bench_topology, 2 replicas: twice the conductor, agent
and database CPU of one). A pass now claims what it sends: the revision and when, so the
next pass (of any conductor) sends again only for a newer revision, or once the op has
gone unanswered long enough to count as lost.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stockyard.db.base import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ports_sent_rev", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("ports_sent_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("ports_sent_at")
        batch_op.drop_column("ports_sent_rev")
