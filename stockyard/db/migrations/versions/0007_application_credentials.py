"""application credentials

``application_credentials``: a user's delegation of roles on one project to an
application, with an argon2 hash of its secret; ``tokens.app_cred_id``: the credential a
token was issued with.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stockyard.db.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "application_credentials",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("unrestricted", sa.Boolean(), nullable=False),
        sa.Column("expires_at", stockyard.db.base.UTCDateTime(), nullable=True),
        sa.Column("created_at", stockyard.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_application_credentials_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_application_credentials_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_credentials")),
        sa.UniqueConstraint("user_id", "name", name=op.f("uq_application_credentials_user_id")),
    )
    with op.batch_alter_table("application_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_credentials_user_id"), ["user_id"], unique=False
        )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_cred_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_tokens_app_cred_id"), ["app_cred_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokens_app_cred_id"))
        batch_op.drop_column("app_cred_id")
    with op.batch_alter_table("application_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_credentials_user_id"))
    op.drop_table("application_credentials")
