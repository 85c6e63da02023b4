"""Failures of the business's own addresses are alerts, never suppressions.

`suppressed_address.stops_mail`: true for a customer's hard-bounced address
(nothing is sent to it again), false for a staff, manager, forwarder or
mailbox address whose mail failed (the health check fails instead). Rows
written before are suppressions, as they were.

Revision ID: 0006_bounce_alerts
Revises: 0005_ops_figures
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_bounce_alerts"
down_revision: str | None = "0005_ops_figures"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("suppressed_address") as batch:
        batch.add_column(sa.Column("stops_mail", sa.Boolean(), nullable=False,
                                   server_default=sa.true()))


def downgrade() -> None:
    op.execute("DELETE FROM suppressed_address WHERE NOT stops_mail")
    with op.batch_alter_table("suppressed_address") as batch:
        batch.drop_column("stops_mail")
