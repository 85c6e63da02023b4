"""Approval by email: used reply tokens (replay protection) and resolution drafts.

Revision ID: 0003_approval
Revises: 0002_ladder
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_approval"
down_revision: str | None = "0002_ladder"
branch_labels: str | None = None
depends_on: str | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "used_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("used_by", sa.String(), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=True),
        sa.Column("used_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_used_token"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaint.id"], name="fk_used_token_complaint_id_complaint"
        ),
        sa.ForeignKeyConstraint(
            ["message_row_id"], ["message.id"], name="fk_used_token_message_row_id_message"
        ),
        sa.UniqueConstraint("digest", name="uq_used_token_digest"),
    )
    op.create_table(
        "draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_draft"),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaint.id"], name="fk_draft_complaint_id_complaint"
        ),
        sa.ForeignKeyConstraint(
            ["message_row_id"], ["message.id"], name="fk_draft_message_row_id_message"
        ),
        sa.UniqueConstraint("complaint_id", "version", name="uq_draft_complaint_id_version"),
    )


def downgrade() -> None:
    op.drop_table("draft")
    op.drop_table("used_token")
