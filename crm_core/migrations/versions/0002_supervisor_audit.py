"""supervisor audit log

Revision ID: 0002_supervisor_audit
Revises: 0001
Create Date: 2026-11-23 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_core.models

revision = "0002_supervisor_audit"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervisor_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", crm_core.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("supervisor_audit") as batch:
        batch.create_index("ix_supervisor_audit_at", ["at"])
        batch.create_index("ix_supervisor_audit_action", ["action"])
        batch.create_index("ix_supervisor_audit_target_at", ["target", "at"])


def downgrade() -> None:
    op.drop_table("supervisor_audit")
