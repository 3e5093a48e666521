"""Call recordings (one row per file, linked to the interaction) and the caller's CSAT survey

Revision ID: 0008_recordings
Revises: 0007_event_feed
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_recordings"
down_revision = "0007_event_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("interaction_id", sa.Integer(), sa.ForeignKey("interactions.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("path", sa.String(255), nullable=False, unique=True),
        sa.Column("duration_s", sa.Float(), nullable=False, server_default="0"),
        sa.Column("size_bytes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pauses", sa.JSON(), nullable=False),
    )
    op.create_index("ix_recordings_linkedid", "recordings", ["linkedid"])
    op.create_index("ix_recordings_interaction_id", "recordings", ["interaction_id"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("csat", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("csat2", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Not a batch copy: on SQLite that re-creates interactions, whose DROP deletes every row first and, with foreign
    # keys on (crm_core.db), cascades to every call's segments. SQLite drops a column in place since 3.35 (2021).
    op.execute("ALTER TABLE interactions DROP COLUMN csat2")
    op.execute("ALTER TABLE interactions DROP COLUMN csat")
    op.drop_table("recordings")
