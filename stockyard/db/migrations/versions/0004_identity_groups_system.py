"""identity groups and the system scope

Groups (``groups``, ``group_members``), a group's roles on projects and domains
(``group_role_assignments``), roles on the system held by users or groups
(``system_role_assignments``), ``inherited`` on user and group assignments (OS-INHERIT:
a domain grant for each project of the domain), and ``tokens.system`` for
system-scoped tokens.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_groups_domain_id_domains")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("domain_id", "name", name=op.f("uq_groups_domain_id")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_group_members_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_group_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    op.create_index(op.f("ix_group_members_user_id"), "group_members", ["user_id"])
    op.create_table(
        "group_role_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("domain_id", sa.String(length=64), nullable=True),
        sa.Column("inherited", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domains.id"],
            name=op.f("fk_group_role_assignments_domain_id_domains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_group_role_assignments_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_group_role_assignments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_group_role_assignments_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_role_assignments")),
        sa.UniqueConstraint(
            "role_id",
            "group_id",
            "project_id",
            "domain_id",
            name=op.f("uq_group_role_assignments_role_id"),
        ),
    )
    op.create_index(
        op.f("ix_group_role_assignments_group_id"), "group_role_assignments", ["group_id"]
    )
    op.create_index(
        op.f("ix_group_role_assignments_project_id"), "group_role_assignments", ["project_id"]
    )
    op.create_table(
        "system_role_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_system_role_assignments_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["role_id"],
            ["roles.id"],
            name=op.f("fk_system_role_assignments_role_id_roles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_system_role_assignments_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_role_assignments")),
        sa.UniqueConstraint(
            "role_id", "user_id", "group_id", name=op.f("uq_system_role_assignments_role_id")
        ),
    )
    op.create_index(
        op.f("ix_system_role_assignments_user_id"), "system_role_assignments", ["user_id"]
    )
    op.create_index(
        op.f("ix_system_role_assignments_group_id"), "system_role_assignments", ["group_id"]
    )
    op.add_column(
        "role_assignments",
        sa.Column("inherited", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "tokens",
        sa.Column("system", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("system")
    with op.batch_alter_table("role_assignments") as batch:
        batch.drop_column("inherited")
    op.drop_table("system_role_assignments")
    op.drop_table("group_role_assignments")
    op.drop_table("group_members")
    op.drop_table("groups")
