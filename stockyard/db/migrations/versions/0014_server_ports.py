"""servers' addresses from Networking v2 ports

``address_allocations`` (the per-region flat network of the placement flow) is retired:
a server's addresses are its ports' fixed IPs now, allocated by IPAM on the region's
provider network (created at enrolment) or on the networks the user asked for.
``instances.network_info`` caches the instance's ports as the agents see them
(Nova's instance info cache), so an op message needs no query; ``hosts.macs`` holds a
baremetal node's NIC MACs, which its ports carry; ``instances.ports_rev`` /
``ports_synced_rev`` are the port changes a host still has to apply, and
``ports_announce`` a server gone ACTIVE whose peers have not been told yet.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("instances", sa.Column("network_info", sa.JSON(), nullable=True))
    op.add_column("hosts", sa.Column("macs", sa.JSON(), nullable=True))
    for column in ("ports_rev", "ports_synced_rev"):
        op.add_column(
            "instances", sa.Column(column, sa.Integer(), nullable=False, server_default="0")
        )
    op.add_column(
        "instances",
        sa.Column("ports_announce", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    with op.batch_alter_table("address_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_allocations_instance_uuid"))
    op.drop_table("address_allocations")


def downgrade() -> None:
    op.create_table(
        "address_allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column("mac", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_allocations")),
        sa.UniqueConstraint("region", "address", name=op.f("uq_address_allocations_region")),
    )
    with op.batch_alter_table("address_allocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_address_allocations_instance_uuid"), ["instance_uuid"], unique=False
        )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("network_info")
        batch_op.drop_column("ports_rev")
        batch_op.drop_column("ports_synced_rev")
        batch_op.drop_column("ports_announce")
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_column("macs")
