"""volumes.image_metadata: Cinder's volume glance metadata (``volume_image_metadata``)

A volume made from an image carries the image's id, name, formats, sizes and properties
(Nova reads the properties when it boots a server from the volume); the os-*_image_metadata
actions change them. Volumes made from an image before this revision get the image's id.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.add_column(sa.Column("image_metadata", sa.JSON(), nullable=True))
    volumes = sa.table(
        "volumes", sa.column("id", sa.String()), sa.column("image_id", sa.String()),
        sa.column("image_metadata", sa.JSON()),
    )  # fmt: skip
    conn = op.get_bind()
    made = conn.execute(sa.select(volumes.c.id, volumes.c.image_id).where(
        volumes.c.image_id.is_not(None))).all()  # fmt: skip
    for volume_id, image_id in made:
        conn.execute(
            volumes.update()
            .where(volumes.c.id == volume_id)
            .values(image_metadata={"image_id": image_id})
        )


def downgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.drop_column("image_metadata")
