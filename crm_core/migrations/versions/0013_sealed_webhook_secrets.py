"""webhook secrets sealed at rest: room for the sealed form

Revision ID: 0013_sealed_webhook_secrets
Revises: 0012_vhold
Create Date: 2026-12-04 13:30:00

The secrets already stored stay as they are here (the key is not the database's to know): the
engine seals each one under its key on its next start (crm_core.webhooks.WebhookDispatcher.start).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_sealed_webhook_secrets"
down_revision = "0012_vhold"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    # SQLite does not enforce a VARCHAR's length, and changing it means re-creating the table
    # (alembic's batch copy), whose DROP deletes every row first: with foreign keys on (crm_core.db)
    # that cascades to every subscriber's dead letters. Nothing to change there, then.
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        return
    with op.batch_alter_table("webhook_subscribers") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=128), type_=sa.String(length=255),
                           existing_nullable=False)


def downgrade() -> None:
    # A sealed secret does not fit the old column (PostgreSQL refuses the change while one is stored),
    # and an engine of before could not sign with it: delete the webhooks first.
    if _sqlite():
        return
    with op.batch_alter_table("webhook_subscribers") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=255), type_=sa.String(length=128),
                           existing_nullable=False)
