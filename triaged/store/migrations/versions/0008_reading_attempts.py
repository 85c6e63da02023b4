"""Messages being handled, so one that stops the process again and again is quarantined.

`reading_attempt`: one row per message whose handling began and whose outcome
is not committed yet; `stops` counts the times the process stopped while
handling it.

Revision ID: 0008_reading_attempts
Revises: 0007_mailbox_limits
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008_reading_attempts"
down_revision: str | None = "0007_mailbox_limits"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "reading_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(), nullable=False),
        sa.Column("folder", sa.String(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("stops", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reading_attempt"),
        sa.UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", "sha256",
                            name="uq_reading_attempt_mailbox_folder_uidvalidity_uid_sha256"),
    )


def downgrade() -> None:
    op.drop_table("reading_attempt")
