"""IVR PIN failures counted per account, across calls, and a lock

Revision ID: 0006_pin_lockout
Revises: 0005_segment_wrapup
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pin_lockout"
down_revision = "0005_segment_wrapup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("pin_failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("pin_locked_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not a batch copy: on SQLite that re-creates customers, whose DROP deletes every row first and, with foreign
    # keys on (crm_core.db), deletes their phone numbers and unlinks their calls, cases and callbacks. SQLite drops
    # a column in place since 3.35 (2021).
    op.execute("ALTER TABLE customers DROP COLUMN pin_locked_until")
    op.execute("ALTER TABLE customers DROP COLUMN pin_failures")
