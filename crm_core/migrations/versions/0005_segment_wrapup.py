"""each agent's wrap-up on their segment

Revision ID: 0005_segment_wrapup
Revises: 0004_callbacks
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_segment_wrapup"
down_revision = "0004_callbacks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows keep NULL: the call logger rewrites a call's segments whenever it re-folds it.
    with op.batch_alter_table("interaction_segments") as batch:
        batch.add_column(sa.Column("disposition", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interaction_segments") as batch:
        batch.drop_column("notes")
        batch.drop_column("disposition")
