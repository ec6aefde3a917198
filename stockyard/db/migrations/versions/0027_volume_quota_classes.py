"""volume_quota_classes: Block Storage's os-quota-class-sets

The ``default`` class's limits override the configured defaults of every project (its
own overrides still win), as in Cinder.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volume_quota_classes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("class_name", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(300), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volume_quota_classes")),
        sa.UniqueConstraint(
            "class_name", "resource", name=op.f("uq_volume_quota_classes_class_name")
        ),
    )


def downgrade() -> None:
    op.drop_table("volume_quota_classes")
