"""the case feed's holes kept with its cursor: history ids read past while their transaction was open

Revision ID: 0015_feed_source_holes
Revises: 0014_feed_sources
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_feed_source_holes"
down_revision = "0014_feed_sources"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_sources") as batch:
        batch.add_column(sa.Column("holes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_sources") as batch:
        batch.drop_column("holes")
