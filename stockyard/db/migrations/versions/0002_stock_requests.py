"""stock requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stockyard.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stock_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("resource_class", sa.String(length=64), nullable=False),
        sa.Column("availability_zone", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min_racks", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("assigned_nodes", sa.JSON(), nullable=False),
        sa.Column("created_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("decided_at", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_requests")),
        sa.UniqueConstraint("uuid", name=op.f("uq_stock_requests_uuid")),
    )
    with op.batch_alter_table("stock_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stock_requests_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_stock_requests_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("stock_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stock_requests_status"))
        batch_op.drop_index(batch_op.f("ix_stock_requests_project_id"))
    op.drop_table("stock_requests")
