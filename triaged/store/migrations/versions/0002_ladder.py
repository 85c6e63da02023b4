"""The reminder and escalation ladder: complaint.nudge_at and complaint.reminded.

`nudge_at` is the next instant the escalation scan must look at a complaint
(NULL: never, e.g. once resolved); its index is what keeps the scan's cost
proportional to what is due. Complaints open at upgrade time get
their nudge at their promised date and count as reminded: no burst of late
reminders for dates set before the ladder existed.

Revision ID: 0002_ladder
Revises: 0001_initial
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_ladder"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint") as batch:
        batch.add_column(sa.Column("nudge_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reminded", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_index("ix_complaint_nudge_at", ["nudge_at"])
    op.execute(
        "UPDATE complaint SET nudge_at = due_at, reminded = TRUE "
        "WHERE state NOT IN ('resolved', 'closed')"
    )


def downgrade() -> None:
    with op.batch_alter_table("complaint") as batch:
        batch.drop_index("ix_complaint_nudge_at")
        batch.drop_column("reminded")
        batch.drop_column("nudge_at")
