"""Limits per real mailbox: the outbox letter's mailbox key and indexes to count by it.

`outbox_letter.to_key` is `mailbox_key(to_email)` (lower case, no plus-detail,
no dots at Gmail), so `victim+1@` and `Victim@` count as one address;
`about_key` names the sender a staff notice is about. Three indexes make each
limit one indexed count: per mailbox, per sender, and overall per hour.
Existing letters get their key here, with the built-in dot-ignoring domains.

Revision ID: 0007_mailbox_limits
Revises: 0006_bounce_alerts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triaged.domain.mailbox_key import mailbox_key

revision: str = "0007_mailbox_limits"
down_revision: str | None = "0006_bounce_alerts"
branch_labels: str | None = None
depends_on: str | None = None

INDEXES = (
    ("ix_outbox_letter_to_key_created_at", ["to_key", "created_at"]),
    ("ix_outbox_letter_about_key_created_at", ["about_key", "created_at"]),
    ("ix_outbox_letter_automatic_created_at", ["automatic", "created_at"]),
)


def upgrade() -> None:
    for column in ("to_key", "about_key"):
        op.add_column("outbox_letter", sa.Column(column, sa.String(), nullable=False,
                                                 server_default=""))
    letters = sa.table("outbox_letter", sa.column("id", sa.Integer()),
                       sa.column("to_email", sa.String()), sa.column("to_key", sa.String()))
    conn = op.get_bind()
    addresses = conn.execute(sa.select(letters.c.to_email).distinct()).scalars().all()
    for address in addresses:
        conn.execute(sa.update(letters).where(letters.c.to_email == address)
                     .values(to_key=mailbox_key(address)))
    for name, columns in INDEXES:
        op.create_index(name, "outbox_letter", columns)


def downgrade() -> None:
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="outbox_letter")
    with op.batch_alter_table("outbox_letter") as batch:
        batch.drop_column("about_key")
        batch.drop_column("to_key")
