"""preview callbacks

Revision ID: 0004_callbacks
Revises: 0003_agent_state_log
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_core.models

revision = "0004_callbacks"
down_revision = "0003_agent_state_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("due_at", crm_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", crm_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("called_at", crm_core.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("origin_linkedid", sa.String(length=64), nullable=True),
        sa.Column("last_linkedid", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", crm_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("origin_linkedid"),
    )
    with op.batch_alter_table("callbacks") as batch:
        batch.create_index("ix_callbacks_state_due", ["state", "due_at"])
        batch.create_index("ix_callbacks_last_linkedid", ["last_linkedid"])


def downgrade() -> None:
    op.drop_table("callbacks")
