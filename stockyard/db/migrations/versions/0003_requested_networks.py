"""instances.requested_networks

What the create asked for in ``networks`` (Nova 2.37+): NULL for "auto" (or a request
before 2.37 that named none), ``[]`` for "none", else the list of requests. The
placement flow reads it; before, "none" was only a hint nobody read.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("requested_networks", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("requested_networks")
