"""server lock: who locked and why

``instances.locked_by`` ("owner" or "admin", Nova's: an admin's lock is lifted only by
an admin) and ``instances.locked_reason`` (2.73's ``locked_reason``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("locked_by", sa.String(length=16), nullable=True))
    op.add_column("instances", sa.Column("locked_reason", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("locked_reason")
        batch.drop_column("locked_by")
