"""volume_type_projects: the projects a private volume type is given to

Cinder's ``os-volume-type-access``: a type made with ``is_public`` false is seen and
used only by admins and the projects given it.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stockyard.db.base import UTCDateTime

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volume_type_projects",
        sa.Column("volume_type_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["volume_type_id"],
            ["volume_types.id"],
            name=op.f("fk_volume_type_projects_volume_type_id_volume_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "volume_type_id", "project_id", name=op.f("pk_volume_type_projects")
        ),
    )
    op.create_index(
        op.f("ix_volume_type_projects_project_id"), "volume_type_projects", ["project_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_volume_type_projects_project_id"), table_name="volume_type_projects")
    op.drop_table("volume_type_projects")
