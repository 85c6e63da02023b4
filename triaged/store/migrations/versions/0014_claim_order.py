"""The sender's claim reads due letters in the order it takes them.

The claim takes the queued letter due first, ties broken by id (`ORDER BY
next_attempt_at, id`). On (state, next_attempt_at) alone PostgreSQL read every
due letter and sorted them to find that one, so on a backlog each claim cost as
much as the backlog was long; with id as the index's last column the scan stops
at the first letter it can lock. (SQLite keeps the rowid at the end of every
index: there the order was already the index's.)

Revision ID: 0014_claim_order
Revises: 0013_attachments
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision: str = "0014_claim_order"
down_revision: str | None = "0013_attachments"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.drop_index("ix_outbox_letter_state_next_attempt_at", table_name="outbox_letter")
    op.create_index("ix_outbox_letter_due", "outbox_letter", ["state", "next_attempt_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_letter_due", table_name="outbox_letter")
    op.create_index("ix_outbox_letter_state_next_attempt_at", "outbox_letter",
                    ["state", "next_attempt_at"])
