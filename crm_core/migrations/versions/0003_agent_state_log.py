"""agent state history

Revision ID: 0003_agent_state_log
Revises: 0002_supervisor_audit
Create Date: 2026-11-23 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_agent_state_log"
down_revision = "0002_supervisor_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_state_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agent_state_log") as batch:
        batch.create_index("ix_agent_state_log_at", ["at"])


def downgrade() -> None:
    op.drop_table("agent_state_log")
