"""volumes.readonly may be unset (NULL): Cinder's admin metadata has no ``readonly`` key
until os-update_readonly_flag sets one, and from then on the volume's metadata shows it,
"False" as well as "True". The rows that read false become unset: until now a false flag
was not shown either.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.alter_column("readonly", existing_type=sa.Boolean(), nullable=True)
    volumes = sa.table("volumes", sa.column("readonly", sa.Boolean()))
    op.execute(volumes.update().where(volumes.c.readonly.is_(False)).values(readonly=None))


def downgrade() -> None:
    volumes = sa.table("volumes", sa.column("readonly", sa.Boolean()))
    op.execute(volumes.update().where(volumes.c.readonly.is_(None)).values(readonly=False))
    with op.batch_alter_table("volumes") as batch:
        batch.alter_column("readonly", existing_type=sa.Boolean(), nullable=False)
