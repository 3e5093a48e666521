"""outbound campaigns: campaigns, contacts, attempts, do-not-call; interactions name their campaign

Revision ID: 0011_campaigns
Revises: 0010_user_phone_kind
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_core.models

revision = "0011_campaigns"
down_revision = "0010_user_phone_kind"
branch_labels = None
depends_on = None

_TS = crm_core.models.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("caller_id", sa.String(length=20), nullable=True),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.Column("windows", sa.JSON(), nullable=False),
        sa.Column("retry", sa.JSON(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("machine_action", sa.String(length=10), nullable=False),
        sa.Column("machine_message", sa.String(length=120), nullable=False),
        sa.Column("drop_message", sa.String(length=120), nullable=False),
        sa.Column("drop_cap", sa.Float(), nullable=False),
        sa.Column("max_lines_per_agent", sa.Float(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_campaigns_state", "campaigns", ["state"])
    op.create_table(
        "campaign_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", _TS, nullable=True),
        sa.Column("last_outcome", sa.String(length=12), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "number"),
    )
    op.create_index("ix_campaign_contacts_due", "campaign_contacts", ["campaign_id", "state", "next_at"])
    op.create_table(
        "campaign_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("dialled_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["contact_id"], ["campaign_contacts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id", "attempt"),
        sa.UniqueConstraint("linkedid"),
    )
    op.create_index("ix_campaign_attempts_campaign_id", "campaign_attempts", ["campaign_id"])
    op.create_table(
        "do_not_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_do_not_call_number", "do_not_call", ["number"])
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("campaign_contact_id", sa.Integer(), nullable=True))
        batch.create_index("ix_interactions_campaign_id", ["campaign_id"])


def downgrade() -> None:
    # Not a batch copy: on SQLite that re-creates interactions, whose DROP deletes every row first and, with foreign
    # keys on (crm_core.db), cascades to every call's segments and unlinks its recordings. SQLite drops a column in
    # place since 3.35 (2021).
    op.drop_index("ix_interactions_campaign_id", table_name="interactions")
    op.execute("ALTER TABLE interactions DROP COLUMN campaign_contact_id")
    op.execute("ALTER TABLE interactions DROP COLUMN campaign_id")
    op.drop_table("do_not_call")
    op.drop_table("campaign_attempts")
    op.drop_table("campaign_contacts")
    op.drop_table("campaigns")
