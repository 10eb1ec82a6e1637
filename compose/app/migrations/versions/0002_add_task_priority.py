"""add task priority

Revision ID: 0002
Revises: 0001
Create Date: 2024-01-02 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.create_check_constraint("tasks_priority_check", "tasks", "priority BETWEEN 0 AND 9")


def downgrade() -> None:
    op.drop_constraint("tasks_priority_check", "tasks", type_="check")
    op.drop_column("tasks", "priority")
