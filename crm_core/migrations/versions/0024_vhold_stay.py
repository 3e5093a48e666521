"""virtual hold: an entry keeps its stay in its queue, its put-back time and the waits carried by a move

A virtual-hold entry saved only its first queue entry (its place): a restarted engine counted a
caller an overflow (or a limit's ``queue`` action) had moved from that first entry instead of its
stay in the queue it pressed the key in, and a caller put back after its agent's softphone was lost
as if it had never been answered (docs/callbacks.md). ``queue_entered_at``: the entry into the
entry's queue (NULL: its first entry); ``put_back_at``: when it was put back after an answer (NULL:
never); ``moved_wait_s``: the waits of its stays before a supervisor's move, which its queue counts
with its own stay's (0 for the rows saved before: none was known). The downgrade drops them.

Revision ID: 0024_vhold_stay
Revises: 0023_callback_index
Create Date: 2026-12-06 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024_vhold_stay"
down_revision = "0023_callback_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("virtual_holds", sa.Column("queue_entered_at", sa.Float(), nullable=True))
    op.add_column("virtual_holds", sa.Column("put_back_at", sa.Float(), nullable=True))
    op.add_column("virtual_holds", sa.Column("moved_wait_s", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite has it since 3.35): a batch would copy the table, and
    # reflecting it reflects ``customers`` too, whose expression index SQLAlchemy warns it skips.
    for column in ("moved_wait_s", "put_back_at", "queue_entered_at"):
        op.drop_column("virtual_holds", column)
