"""volumes.delete_when_made

A server deleted while a ``delete_on_termination`` volume made for it is still being
created cannot delete the volume yet (Cinder refuses a delete while ``creating``; Nova
leaks such volumes). The flag tells the volume role to delete the volume as soon as its
create ends, instead of making it ``available`` for nobody.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "volumes",
        sa.Column("delete_when_made", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("volumes", schema=None) as batch:
        batch.drop_column("delete_when_made")
