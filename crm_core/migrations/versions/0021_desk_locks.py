"""desk locks: the SIP desk phones locked until an administrator issues them a new password

One row per locked desk endpoint (docs/security.md, "A deactivated user's desk phone"). A row is
written when the endpoint's user is deactivated and removed only when an administrator issues the
endpoint a new password: reactivating the user leaves the phone locked (its old password was known
to whoever was deactivated). The engine's first start after the upgrade writes the rows of the
endpoints whose users are deactivated now. The downgrade drops the table: the locks then follow
the users' active flag again.

Revision ID: 0021_desk_locks
Revises: 0020_phone_owner_unique
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_desk_locks"
down_revision = "0020_phone_owner_unique"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_locks",
        sa.Column("endpoint", sa.String(32), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint"),
    )


def downgrade() -> None:
    op.drop_table("desk_locks")
