"""virtual hold: the language an entry's callback speaks

A virtual-hold callback asks its question ("press 1") in the language the caller was offered the
key in (its channel's, as the IVR set it), or for a web request in the language of the CRM
customer with that number; the language lived in the engine's memory only, so an entry put back by
a restarted engine was called back in the PBX's default language (docs/callbacks.md). ``language``:
a sound directory's name (``zh``, ``en_GB``); NULL, the rows saved before and an entry with none:
the PBX's default. The downgrade drops it (those entries are then called back in the default).

Revision ID: 0026_vhold_language
Revises: 0025_customer_linked
Create Date: 2026-12-07 00:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026_vhold_language"
down_revision = "0025_customer_linked"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("virtual_holds", sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    # Plain ALTER TABLE DROP COLUMN (SQLite has it since 3.35), as 0024_vhold_stay: a batch would copy
    # the table, and reflecting it reflects ``customers`` too, whose expression index SQLAlchemy warns
    # it skips.
    op.drop_column("virtual_holds", "language")
