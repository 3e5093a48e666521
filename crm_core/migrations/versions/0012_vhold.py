"""virtual hold: callers who keep their place in the queue without staying on the line

Revision ID: 0012_vhold
Revises: 0011_campaigns
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_core.models

revision = "0012_vhold"
down_revision = "0011_campaigns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "virtual_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("origin_linkedid", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=True),
        sa.Column("entered_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("connected_linkedid", sa.String(length=64), nullable=True),
        sa.Column("created_at", crm_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", crm_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id"),
    )
    with op.batch_alter_table("virtual_holds") as batch:
        batch.create_index("ix_virtual_holds_state", ["state"])
        batch.create_index("ix_virtual_holds_origin_linkedid", ["origin_linkedid"])
        batch.create_index("ix_virtual_holds_connected_linkedid", ["connected_linkedid"])


def downgrade() -> None:
    op.drop_table("virtual_holds")
