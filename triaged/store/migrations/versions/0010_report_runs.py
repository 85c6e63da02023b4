"""The owner's report: one row per scheduled period sent, and complaints by arrival.

`report_run`: the unique `period` is what an instance claims before it
queues the scheduled letter, so it goes once per period. The index on
`complaint.received_at` keeps the report's counts to the period's rows;
`ix_event_report_at` (partial: resolutions and state changes only) does the
same for its times and satisfaction answers.

Revision ID: 0010_report_runs
Revises: 0008_reading_attempts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

REPORT_EVENT_KINDS = sa.text("kind IN ('approved', 'state_changed')")

revision: str = "0010_report_runs"
down_revision: str | None = "0008_reading_attempts"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "report_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_run"),
        sa.UniqueConstraint("period", name="uq_report_run_period"),
    )
    op.create_index("ix_complaint_received_at", "complaint", ["received_at"])
    op.create_index("ix_event_report_at", "event", ["at"], sqlite_where=REPORT_EVENT_KINDS,
                    postgresql_where=REPORT_EVENT_KINDS)


def downgrade() -> None:
    op.drop_index("ix_event_report_at", table_name="event")
    op.drop_index("ix_complaint_received_at", table_name="complaint")
    op.drop_table("report_run")
