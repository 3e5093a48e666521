"""interactions: whether an agent linked the call's customer (the call logger keeps such a link)

The call logger sets a call's customer only where the interaction has none or still has the one
the logger last wrote; an agent's link (``PUT /api/crm/interactions/{id}/customer``) to that very
customer could not be told from the logger's own, and a later identification by the IVR replaced
it. ``customer_linked`` is set by the link and the logger's ``UPDATE`` keeps the customer wherever
it is set. Rows written before are not marked (which of their customers an agent linked was not
recorded): false. The downgrade drops the column.

Revision ID: 0025_customer_linked
Revises: 0024_vhold_stay
Create Date: 2026-12-06 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025_customer_linked"
down_revision = "0024_vhold_stay"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("interactions", sa.Column("customer_linked", sa.Boolean(), nullable=False,
                                            server_default=sa.false()))


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite has it since 3.35): a batch would copy ``interactions``,
    # and with foreign keys on, dropping the old copy deletes every call's segments and unlinks its
    # recordings (tests/db/crm/test_migration_rows.py).
    op.drop_column("interactions", "customer_linked")
