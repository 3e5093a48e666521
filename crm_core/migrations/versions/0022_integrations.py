"""for integrations: named tokens, account numbers whatever their case, a callback's id on its call

1. ``integration_tokens``: named, revocable, read-only API tokens for integrations (docs/api.md,
   "Integration tokens"). Only each token's SHA-256 is stored. The downgrade drops the table (the
   tokens stop working; ``feed.integration_tokens`` of the settings go on reading the feed).
2. ``ux_customers_account_ci``: a unique index on ``lower(account_number)``: ``AB123`` and
   ``ab123`` are one account (look-ups match regardless of case, crm_core.customers). Customers
   already holding two spellings of one account number stop the upgrade, naming them: give one of
   them another number (``PATCH /api/crm/customers/{id}``) and upgrade again. The downgrade drops the
   index (the column's own unique constraint, case-sensitive, stays as it always was).
3. ``interactions.callback_id``: on a virtual-hold callback's call, the callback it serves (a web
   request's id, ``web-...``, or the caller's first call's linkedid), so an integrator joins
   request -> callback -> call. Null on calls logged before, and on every other call. The
   downgrade drops the column.

Revision ID: 0022_integrations
Revises: 0021_desk_locks
Create Date: 2026-12-06 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_integrations"
down_revision = "0021_desk_locks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Before any change: SQLite's DDL is not rolled back, a stop half-way would leave the table.
    clashes = op.get_bind().execute(sa.text(
        "SELECT lower(account_number) FROM customers WHERE account_number IS NOT NULL "
        "GROUP BY lower(account_number) HAVING COUNT(*) > 1 ORDER BY 1")).scalars().all()
    if clashes:
        raise RuntimeError("customers hold account numbers that differ only in case, which are now one account: "
                           f"{', '.join(clashes[:20])}; give one of each another number and upgrade again")
    op.create_table(
        "integration_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("hint", sa.String(16), nullable=False),
        sa.Column("audio", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_integration_tokens_hash", "integration_tokens", ["token_hash"], unique=True)
    op.create_index("ux_customers_account_ci", "customers", [sa.text("lower(account_number)")], unique=True)
    op.add_column("interactions", sa.Column("callback_id", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_index("ux_customers_account_ci", table_name="customers")
    # Not a batch copy: on SQLite that drops and re-creates interactions, and the drop cascades to
    # every call's segments. SQLite has dropped a column in place since 3.35 (2021).
    op.execute("ALTER TABLE interactions DROP COLUMN callback_id")
    op.drop_index("ux_integration_tokens_hash", table_name="integration_tokens")
    op.drop_table("integration_tokens")
