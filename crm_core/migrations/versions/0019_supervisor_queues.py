"""supervisor queues: the queues an administrator assigns a supervisor (docs/security.md)

One row per (supervisor, queue). A supervisor without rows oversees every queue, as every
supervisor did before this table: an upgrade changes nobody's view until an administrator assigns
queues. The downgrade drops the assignments (every supervisor sees every queue again).

Revision ID: 0019_supervisor_queues
Revises: 0018_acw_state_time
Create Date: 2026-12-05 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_supervisor_queues"
down_revision = "0018_acw_state_time"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervisor_queues",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "queue"),
    )


def downgrade() -> None:
    op.drop_table("supervisor_queues")
