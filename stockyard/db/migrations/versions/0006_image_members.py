"""image_members

``image_members``: the projects an image is shared with and each one's answer (Glance's
image members: pending, accepted or rejected); rows go with their image.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stockyard.db.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("image_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_members_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_members")),
        sa.UniqueConstraint("image_id", "member_id", name=op.f("uq_image_members_image_id")),
    )
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_members_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("image_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_members_member_id"))
    op.drop_table("image_members")
