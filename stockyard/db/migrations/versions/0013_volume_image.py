"""volume image

``volumes.image_id``: the image a volume was created from (``openstack volume create
--image``); the volume role copies it onto the backend, and volume show carries its
``volume_image_metadata``.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.drop_column("image_id")
