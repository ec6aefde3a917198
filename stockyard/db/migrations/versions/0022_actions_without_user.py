"""instance_actions.user_id / project_id may be NULL: actions no user asked for

The power sync stops a STOPPED server it finds running (Nova's ``force_stop``) and
records that as a "stop" action. Nova records such actions with no user and no project
(its periodic task runs with an admin context), and its API schema allows null for
both; a made-up user would misattribute the action in an audit.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instance_actions", schema=None) as batch_op:
        for column in ("user_id", "project_id"):
            batch_op.alter_column(column, existing_type=sa.String(64), nullable=True)


def downgrade() -> None:
    op.execute("UPDATE instance_actions SET user_id = '' WHERE user_id IS NULL")
    op.execute("UPDATE instance_actions SET project_id = '' WHERE project_id IS NULL")
    with op.batch_alter_table("instance_actions", schema=None) as batch_op:
        for column in ("user_id", "project_id"):
            batch_op.alter_column(column, existing_type=sa.String(64), nullable=False)
