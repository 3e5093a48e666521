"""the do-not-call list holds a number once per scope: duplicates dropped, then unique indexes

Two adds of one number at the same moment both found it missing and both inserted it. The oldest
row of each (number, campaign) is kept; a global number (``campaign_id`` null) gets a partial
unique index, since a plain unique constraint lets any number of nulls through.

Revision ID: 0016_dnc_unique
Revises: 0015_feed_source_holes
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_dnc_unique"
down_revision = "0015_feed_source_holes"
branch_labels = None
depends_on = None

_GLOBAL = sa.text("campaign_id IS NULL")


def upgrade() -> None:
    # GROUP BY puts every null campaign_id in one group (unlike a unique constraint).
    op.execute("DELETE FROM do_not_call WHERE id NOT IN "
               "(SELECT keep FROM (SELECT MIN(id) AS keep FROM do_not_call GROUP BY number, campaign_id) AS k)")
    op.create_index("ux_do_not_call_global", "do_not_call", ["number"], unique=True,
                    sqlite_where=_GLOBAL, postgresql_where=_GLOBAL)
    op.create_index("ux_do_not_call_campaign", "do_not_call", ["campaign_id", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_do_not_call_campaign", table_name="do_not_call")
    op.drop_index("ux_do_not_call_global", table_name="do_not_call")
