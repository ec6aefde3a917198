"""security_group_member_changes: a queue of group membership changes for the port sync

A server's delete (or an interface's attach or detach) bumped the port revision of every
server whose rules named its groups as remote group, in its own transaction: it held its
own server's and host's rows while it locked the peers', and two such results deadlocked
each other until the retries gave up (MariaDB and PostgreSQL, the lifecycle random walk).
The change is now queued here and the conductors' port sync tells the peers in a
transaction of its own, as it already did for servers going ACTIVE.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stockyard.db.base import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "security_group_member_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("security_group_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_group_member_changes")),
    )


def downgrade() -> None:
    op.drop_table("security_group_member_changes")
