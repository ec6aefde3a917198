"""instances.block_devices

A server's block device mappings (Nova's ``block_device_mapping_v2``, boot from volume):
which volumes it boots from and attaches at build, made from what, and which are
deleted with it (``delete_on_termination``). ``None`` for servers booted from an image
with no volumes requested.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("block_devices", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch:
        batch.drop_column("block_devices")
