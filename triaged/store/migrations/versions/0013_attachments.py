"""Files of complaints, kept once per content, and the customer's mailbox key.

`blob`: a file's bytes by SHA-256. `attachment`: a complaint's files, in from the
customer or out with the final letter, numbered within the complaint.
`complaint.customer_key` (the customer's mailbox key) finds earlier complaints.

Revision ID: 0013_attachments
Revises: 0012_outbox_claims
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from triaged.domain.mailbox_key import mailbox_key

revision: str = "0013_attachments"
down_revision: str | None = "0012_outbox_claims"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "blob",
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_blob"),
    )
    op.create_table(
        "attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("message_row_id", sa.Integer(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=True),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("draft_version", sa.Integer(), nullable=True),
        sa.Column("inline", sa.Boolean(), nullable=False),
        sa.Column("content_id", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"],
                                name="fk_attachment_complaint_id_complaint"),
        sa.ForeignKeyConstraint(["message_row_id"], ["message.id"],
                                name="fk_attachment_message_row_id_message"),
        sa.ForeignKeyConstraint(["sha256"], ["blob.sha256"],
                                name="fk_attachment_sha256_blob"),
        sa.PrimaryKeyConstraint("id", name="pk_attachment"),
        sa.UniqueConstraint("complaint_id", "n", name="uq_attachment_complaint_id_n"),
    )
    op.add_column("complaint", sa.Column("customer_key", sa.String(), nullable=False,
                                         server_default=""))
    complaints = sa.table("complaint", sa.column("customer_email", sa.String()),
                          sa.column("customer_key", sa.String()))
    conn = op.get_bind()
    addresses = conn.execute(sa.select(complaints.c.customer_email).distinct()).scalars().all()
    for address in addresses:
        conn.execute(sa.update(complaints).where(complaints.c.customer_email == address)
                     .values(customer_key=mailbox_key(address)))
    op.create_index("ix_complaint_customer_key", "complaint", ["customer_key"])


def downgrade() -> None:
    op.drop_index("ix_complaint_customer_key", table_name="complaint")
    with op.batch_alter_table("complaint") as batch:
        batch.drop_column("customer_key")
    op.drop_table("attachment")
    op.drop_table("blob")
