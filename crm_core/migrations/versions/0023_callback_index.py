"""an index on interactions.callback_id: the call log's ``?callback_id=`` filter

``GET /api/crm/interactions?callback_id=...`` (docs/api.md) finds the calls of one virtual-hold
callback; without an index every such look-up read the whole call log. Calls of no callback hold
NULL, which costs the index next to nothing. The downgrade drops the index.

Revision ID: 0023_callback_index
Revises: 0022_integrations
Create Date: 2026-12-06 04:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0023_callback_index"
down_revision = "0022_integrations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_interactions_callback_id", "interactions", ["callback_id"])


def downgrade() -> None:
    op.drop_index("ix_interactions_callback_id", table_name="interactions")
