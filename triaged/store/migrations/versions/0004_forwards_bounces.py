"""Forwarded mail, linked complaints and hard-bounced addresses.

`complaint.forwarded_by`: who forwarded the mail that opened the complaint
("" when the customer wrote themselves). `complaint.linked_reference`: the
complaint whose reference a different sender quoted. `suppressed_address`:
addresses that bounced hard; nothing more is sent to them.

Revision ID: 0004_forwards_bounces
Revises: 0003_approval
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_forwards_bounces"
down_revision: str | None = "0003_approval"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("complaint", sa.Column("forwarded_by", sa.String(), nullable=False,
                                         server_default=""))
    op.add_column("complaint", sa.Column("linked_reference", sa.String(), nullable=False,
                                         server_default=""))
    op.create_table(
        "suppressed_address",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_row_id"], ["message.id"],
                                name="fk_suppressed_address_message_row_id_message"),
        sa.PrimaryKeyConstraint("id", name="pk_suppressed_address"),
        sa.UniqueConstraint("email", name="uq_suppressed_address_email"),
    )


def downgrade() -> None:
    op.drop_table("suppressed_address")
    with op.batch_alter_table("complaint") as batch:
        batch.drop_column("linked_reference")
        batch.drop_column("forwarded_by")
