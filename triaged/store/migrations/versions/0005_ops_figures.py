"""What the operator's health check and metrics read.

`mailbox_cursor.polled_at`: when a poll last read the folder to its end, so a
separate process (`triaged health`, a Prometheus scrape) can tell a stalled
poller. Three partial indexes keep the scrape's counts off table scans: open
complaints (by state, level and due date), decision events, and messages
recorded as not complaints.

Revision ID: 0005_ops_figures
Revises: 0004_forwards_bounces
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005_ops_figures"
down_revision: str | None = "0004_forwards_bounces"
branch_labels: str | None = None
depends_on: str | None = None

# The same literal predicates as in models.py (a migration must not change with them).
OPEN_COMPLAINT = "state NOT IN ('resolved', 'closed')"
DECISION_EVENT_KINDS = (
    "kind IN ('approved', 'rejected', 'reply_accepted', 'reply_refused', 'letter_suppressed')"
)
UNANSWERED_MESSAGE = "outcome = 'not_complaint'"


def upgrade() -> None:
    op.add_column("mailbox_cursor", sa.Column("polled_at", sa.DateTime(timezone=True),
                                              nullable=True))
    for name, table, columns, where in (
        ("ix_complaint_open", "complaint", ["state", "escalation_level", "due_at"],
         OPEN_COMPLAINT),
        ("ix_event_decisions", "event", ["kind"], DECISION_EVENT_KINDS),
        ("ix_message_unanswered", "message", ["rule"], UNANSWERED_MESSAGE),
    ):
        op.create_index(name, table, columns, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))


def downgrade() -> None:
    for name, table in (("ix_message_unanswered", "message"), ("ix_event_decisions", "event"),
                        ("ix_complaint_open", "complaint")):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("mailbox_cursor") as batch:
        batch.drop_column("polled_at")
