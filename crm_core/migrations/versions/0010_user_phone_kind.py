"""each agent's phone kind (webrtc, sip or sim; NULL: the engine's default)

Revision ID: 0010_user_phone_kind
Revises: 0009_session_cutoffs
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_user_phone_kind"
down_revision = "0009_session_cutoffs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone_kind", sa.String(length=8), nullable=True))


def downgrade() -> None:
    # Not a batch copy: on SQLite that re-creates users, whose DROP deletes every row first and, with foreign keys
    # on (crm_core.db), ends every user's session cut-off and unassigns their cases. SQLite drops a column in place
    # since 3.35 (2021).
    op.execute("ALTER TABLE users DROP COLUMN phone_kind")
