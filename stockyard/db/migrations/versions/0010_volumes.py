"""block storage

``volume_types`` (extra specs name the backend), ``volumes`` and ``volume_snapshots``
(lifecycle tables with the volume role's lease and the error reason) and
``volume_quotas`` (per-project overrides of Cinder's quota limits).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stockyard.db.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _lifecycle() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.Column("task_started_at", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.Column("provider_location", sa.String(length=1024), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "volume_types",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("extra_specs", sa.JSON(), nullable=False),
        sa.Column("created_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_types")),
        sa.UniqueConstraint("name", name=op.f("uq_volume_types_name")),
    )
    op.create_table(
        "volumes",
        *_lifecycle(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("volume_type_id", sa.String(length=36), nullable=False),
        sa.Column("availability_zone", sa.String(length=255), nullable=False),
        sa.Column("bootable", sa.Boolean(), nullable=False),
        sa.Column("readonly", sa.Boolean(), nullable=False),
        sa.Column("multiattach", sa.Boolean(), nullable=False),
        sa.Column("attach_status", sa.String(length=32), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("snapshot_id", sa.String(length=36), nullable=True),
        sa.Column("source_volid", sa.String(length=36), nullable=True),
        sa.Column("backend", sa.String(length=255), nullable=True),
        sa.Column("new_size", sa.Integer(), nullable=True),
        sa.Column("cascade", sa.Boolean(), nullable=False),
        sa.Column("created_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["volume_type_id"],
            ["volume_types.id"],
            name=op.f("fk_volumes_volume_type_id_volume_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volumes")),
    )
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volumes_project_created", ["project_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_volumes_status_lease", ["status", "lease_expires"], unique=False)
    op.create_table(
        "volume_snapshots",
        *_lifecycle(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("volume_type_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("progress", sa.String(length=16), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["volume_id"],
            ["volumes.id"],
            name=op.f("fk_volume_snapshots_volume_id_volumes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_snapshots")),
    )
    with op.batch_alter_table("volume_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volume_snapshots_project_created", ["project_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_volume_snapshots_volume_id"), ["volume_id"], unique=False
        )
    op.create_table(
        "volume_quotas",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=300), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_quotas")),
        sa.UniqueConstraint("project_id", "resource", name=op.f("uq_volume_quotas_project_id")),
    )
    with op.batch_alter_table("volume_quotas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_volume_quotas_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("volume_quotas")
    op.drop_table("volume_snapshots")
    op.drop_table("volumes")
    op.drop_table("volume_types")
