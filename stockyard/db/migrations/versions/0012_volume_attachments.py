"""volume attachments

``volume_attachments``: Cinder's attachments and Nova's volume block device mappings in
one row per (volume, server), with the conductor op's lease and the failure reason.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-06 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stockyard.db.base

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volume_attachments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=True),
        sa.Column("attached_host", sa.String(length=255), nullable=True),
        sa.Column("mountpoint", sa.String(length=255), nullable=True),
        sa.Column("attach_mode", sa.String(length=8), nullable=False),
        sa.Column("attach_status", sa.String(length=32), nullable=False),
        sa.Column("connector", sa.JSON(), nullable=True),
        sa.Column("connection_info", sa.JSON(), nullable=True),
        sa.Column("tag", sa.String(length=60), nullable=True),
        sa.Column("delete_on_termination", sa.Boolean(), nullable=False),
        sa.Column("boot_index", sa.Integer(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.Column("attach_time", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.Column("detach_time", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.Column("created_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["volume_id"],
            ["volumes.id"],
            name=op.f("fk_volume_attachments_volume_id_volumes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_attachments")),
    )
    with op.batch_alter_table("volume_attachments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volume_attachments_status_lease", ["attach_status", "lease_expires"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_volume_attachments_volume_id"), ["volume_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_volume_attachments_instance_uuid"), ["instance_uuid"], unique=False
        )


def downgrade() -> None:
    op.drop_table("volume_attachments")
