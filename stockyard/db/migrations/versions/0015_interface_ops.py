"""interface attach and detach ops

``ports.iface_op`` (``attaching``/``detaching``) marks a Nova interface attach or detach
in flight on the port's server; ``iface_lease_owner``/``iface_lease_expires`` are its op's
lease (``op:<op>:<op_id>``), so a lost op or result is ended by the conductor's
reconciler instead of leaving the port half attached.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stockyard.db.base import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("iface_op", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("iface_lease_owner", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("iface_lease_expires", UTCDateTime(), nullable=True))
        batch_op.create_index(
            "ix_ports_iface_op", ["iface_op", "iface_lease_expires"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_index("ix_ports_iface_op")
        batch_op.drop_column("iface_lease_expires")
        batch_op.drop_column("iface_lease_owner")
        batch_op.drop_column("iface_op")
