"""session cutoffs: when each user's sessions were last ended (logout, deactivation)

Revision ID: 0009_session_cutoffs
Revises: 0008_recordings
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_session_cutoffs"
down_revision = "0008_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_cutoffs",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("valid_after", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("session_cutoffs")
