"""whether each agent state row's phone was reachable: occupancy leaves out available-but-offline time

Revision ID: 0017_agent_phone_reachable
Revises: 0016_dnc_unique
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_agent_phone_reachable"
down_revision = "0016_dnc_unique"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows recorded before: the phone was taken as reachable (what the occupancy then counted).
    with op.batch_alter_table("agent_state_log") as batch:
        batch.add_column(sa.Column("phone_reachable", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("agent_state_log") as batch:
        batch.drop_column("phone_reachable")
