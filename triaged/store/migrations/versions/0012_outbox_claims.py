"""Letters in flight belong to a sender: who claimed each, and when it was last tried.

`outbox_letter.claimed_by`: the sender that claimed a `sending` letter (its
liveness is checked through `store.claims`), "" otherwise. `tried_at`: when
the last delivery attempt ended (success or failure), indexed: the health
check reads the latest attempts.

Revision ID: 0012_outbox_claims
Revises: 0008_reading_attempts
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012_outbox_claims"
down_revision: str | None = "0010_report_runs"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("outbox_letter", sa.Column("claimed_by", sa.String(), nullable=False,
                                             server_default=""))
    op.add_column("outbox_letter", sa.Column("tried_at", sa.DateTime(timezone=True),
                                             nullable=True))
    op.create_index("ix_outbox_letter_tried_at", "outbox_letter", ["tried_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_letter_tried_at", table_name="outbox_letter")
    with op.batch_alter_table("outbox_letter") as batch:
        batch.drop_column("tried_at")
        batch.drop_column("claimed_by")
