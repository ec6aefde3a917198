"""server disk config

``instances.auto_disk_config``: Nova's ``OS-DCF:diskConfig`` (AUTO: the guest's root
partition is grown to the flavor's disk; MANUAL: left as the image made it), set at
create, rebuild or update and shown on the server.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 11:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_disk_config", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("auto_disk_config")
