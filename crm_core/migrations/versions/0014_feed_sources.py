"""case changes in the event feed: where the follower of the cases' history has got to

Revision ID: 0014_feed_sources
Revises: 0013_sealed_webhook_secrets
Create Date: 2026-12-04 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_feed_sources"
down_revision = "0013_sealed_webhook_secrets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_sources",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("feed_sources")
