"""a phone number belongs to one customer: a partial unique index, numbers shared before it kept

Two commands giving one number to two customers at once (two creates, or a create and an edit
adding it) both read it free and both wrote it, and the number then identified nobody (the IVR,
the pop and the call log match a caller only when the number names one customer). The database
now refuses the second row. Numbers that several customers already share (written before the
application refused them, or by an import) are left with each of them: their rows are marked
``shared_before`` and the unique index leaves marked rows out; a new row of such a number is
still refused by the application's check, which reads the marked rows too. The downgrade drops
the index and the mark.

Revision ID: 0020_phone_owner_unique
Revises: 0019_supervisor_queues
Create Date: 2026-12-05 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_phone_owner_unique"
down_revision = "0019_supervisor_queues"
branch_labels = None
depends_on = None

_OWNED = sa.text("NOT shared_before")


def upgrade() -> None:
    op.add_column("customer_phones", sa.Column("shared_before", sa.Boolean(), nullable=False,
                                               server_default=sa.false()))
    op.execute("UPDATE customer_phones SET shared_before = true WHERE e164 IN "
               "(SELECT e164 FROM (SELECT e164 FROM customer_phones GROUP BY e164 HAVING COUNT(*) > 1) AS s)")
    op.create_index("ux_customer_phones_e164", "customer_phones", ["e164"], unique=True,
                    sqlite_where=_OWNED, postgresql_where=_OWNED)


def downgrade() -> None:
    op.drop_index("ux_customer_phones_e164", table_name="customer_phones")
    with op.batch_alter_table("customer_phones") as batch:
        batch.drop_column("shared_before")
