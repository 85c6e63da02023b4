"""SQLModel tables: complaints, incoming messages, the event log, the outbox,
mailbox cursors and the quarantine.

Every timestamp column is `UTCDateTime` (aware UTC in, aware UTC out). The
tables carry their own metadata with a naming convention, so constraints have
stable names that later migrations can refer to (SQLite batch migrations need
that). Changing a table here needs a new migration under `migrations/versions`;
`tests/unit/test_store_schema.py` fails until the migrated schema matches again.

Indexes are deliberately few: intake inserts one message per transaction at
several hundred a second, and every index is paid for on each insert.
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Index,
    LargeBinary,
    MetaData,
    Text,
    TextClause,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from triaged.domain.records import ComplaintState, LetterState, Outcome
from triaged.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

store_registry = registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class StoreModel(SQLModel, registry=store_registry):
    """Base of every triaged table; its `metadata` is Alembic's target."""


metadata = StoreModel.metadata

QUARANTINE_STATES = ("open", "replayed", "discarded")


class Complaint(StoreModel, table=True):
    """One registered complaint; `reference` is what customers and staff quote."""

    __tablename__ = "complaint"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(unique=True)
    mailbox: str
    state: str = Field(default=ComplaintState.RECEIVED.value)
    customer_email: str = Field(index=True)
    # `mailbox_key(customer_email)`: finds the same customer's earlier complaints.
    customer_key: str = Field(default="", index=True)
    customer_name: str = ""
    subject: str = ""
    language: str = ""
    # Indexed for the owner's report, which counts complaints by when they came.
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    escalation_level: int = 0
    category: str = ""
    priority: str = "normal"
    # The next instant the reminder/escalation scan must look at this complaint
    # (NULL: never); its index keeps the scan's cost to what is due.
    nudge_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # The staff reminder before the promised date has gone out (once per complaint).
    reminded: bool = False
    # Who forwarded the mail that opened it ("" when the customer wrote to us).
    forwarded_by: str = ""
    # The complaint whose reference a different sender quoted (see usecases.intake.threads).
    linked_reference: str = ""
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class MessageRow(StoreModel, table=True):
    """One incoming message as read from a mailbox, with what became of it.

    A duplicate is stored as its own row with outcome `duplicate`, no raw bytes
    and `duplicate_of` naming the original, so it is still counted.
    """

    __tablename__ = "message"

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    folder: str
    uidvalidity: int = Field(default=0, sa_type=BigInteger)
    uid: int = Field(default=0, sa_type=BigInteger)
    message_id: str = Field(default="", index=True)
    sha256: str = Field(index=True)
    raw: bytes | None = Field(default=None, sa_type=LargeBinary)
    size: int = 0
    sender: str = ""
    subject: str = ""
    sent_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    text: str = Field(default="", sa_type=Text)
    outcome: str = Field(default=Outcome.COMPLAINT.value)
    rule: str = ""
    reason: str = ""
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    duplicate_of: int | None = Field(default=None, foreign_key="message.id")
    received_at: datetime = Field(sa_type=UTCDateTime)


class Event(StoreModel, table=True):
    """One line of the append-only audit log: who did what, when, from which message."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    message_row_id: int | None = Field(default=None, foreign_key="message.id")
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str
    actor: str
    detail: str = Field(default="{}", sa_type=Text)


class OutboxLetter(StoreModel, table=True):
    """A rendered letter waiting to be sent, being sent, sent, or given up on.

    The outbox is the queue: `state` and `next_attempt_at` say what the sender
    may claim next; `raw` is the complete RFC 5322 message made at enqueue time.
    """

    __tablename__ = "outbox_letter"
    __table_args__ = (
        # The sender's claim: the due letter first by (next_attempt_at, id), read
        # in index order, so a claim stops at the first letter it can take.
        Index("ix_outbox_letter_due", "state", "next_attempt_at", "id"),
        # The limits on automatic mail (`letter_limits`) are each one indexed count:
        # per real mailbox, per sender a staff notice is about, and overall.
        Index("ix_outbox_letter_to_key_created_at", "to_key", "created_at"),
        Index("ix_outbox_letter_about_key_created_at", "about_key", "created_at"),
        Index("ix_outbox_letter_automatic_created_at", "automatic", "created_at"),
        # The health check reads the latest delivery attempts.
        Index("ix_outbox_letter_tried_at", "tried_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id", index=True)
    kind: str
    to_email: str
    # `mailbox_key(to_email)`: the real mailbox, whatever spelling reached it.
    to_key: str = ""
    # For a notice to staff about a customer's mail, that sender's mailbox key; else "".
    about_key: str = ""
    message_id: str = Field(unique=True)
    subject: str = ""
    raw: bytes = Field(sa_type=LargeBinary)
    automatic: bool = False
    state: str = Field(default=LetterState.QUEUED.value)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The sender holding a `sending` letter (`store.claims`); "" when none does.
    claimed_by: str = ""
    # When the last delivery attempt ended, accepted or not.
    tried_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The rate limit compares addresses case-insensitively; an expression index keeps
# that lookup off a table scan on both SQLite and PostgreSQL.
Index("ix_outbox_letter_to_email_lower", func.lower(metadata.tables["outbox_letter"].c.to_email))


class MailboxCursor(StoreModel, table=True):
    """How far a folder has been read: UIDVALIDITY and the last UID processed.

    `floor`: UIDs at or below it predate our first contact (`start = "now"`)
    and are never touched; `left_alone_before`, the server's arrival time of
    the newest of them, finds them again by INTERNALDATE after a UIDVALIDITY
    change. `quiet_until`: UIDs at or below it were there at first contact
    with `start = "all"` and get no holding reply. UIDs are
    unsigned 32-bit and a Maildir floor is a nanosecond timestamp, hence BIGINT.
    """

    __tablename__ = "mailbox_cursor"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    folder: str
    uidvalidity: int = Field(sa_type=BigInteger)
    last_uid: int = Field(sa_type=BigInteger)
    floor: int = Field(default=0, sa_type=BigInteger)
    quiet_until: int = Field(default=0, sa_type=BigInteger)
    left_alone_before: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When a poll last read this folder to its end (health and metrics; NULL: not yet).
    polled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReadingAttempt(StoreModel, table=True):
    """A message whose handling has begun but whose outcome is not committed yet.

    Written in a transaction of its own before the message is read, deleted
    with its outcome. `in_flight`: it is the one being handled now; a process
    that finds such a row on starting was stopped while handling it, and adds
    one to `stops`. A message stopped at too often is quarantined unread.
    """

    __tablename__ = "reading_attempt"
    __table_args__ = (UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    folder: str
    uidvalidity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    sha256: str
    stops: int = 0
    in_flight: bool = True
    started_at: datetime = Field(sa_type=UTCDateTime)


class SuppressedAddress(StoreModel, table=True):
    """An address whose mail failed, as a genuine bounce of our letter said.

    A customer's address that bounced hard gets nothing queued or sent again
    (`stops_mail`). A staff, manager, forwarder or mailbox address is never
    stopped: its row (`stops_mail` false) makes the health check fail until a
    letter to it is sent after `created_at` (the latest failure) or the
    operator lifts it.
    """

    __tablename__ = "suppressed_address"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True)  # lower-case
    reason: str = Field(sa_type=Text)
    message_row_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: datetime = Field(sa_type=UTCDateTime)
    stops_mail: bool = True


class Quarantine(StoreModel, table=True):
    """A message that could not be processed, parked with its reason for staff."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    message_row_id: int = Field(foreign_key="message.id")
    reason: str = Field(sa_type=Text)
    state: str = "open"
    created_at: datetime = Field(sa_type=UTCDateTime)


class UsedToken(StoreModel, table=True):
    """A reply token that has been acted on: a second use is a replay and is refused.

    `digest` is the SHA-256 of the token text, so the table holds no usable
    credential. `purpose` and `complaint_id` say what it was for (audit).
    """

    __tablename__ = "used_token"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(unique=True)
    purpose: str
    complaint_id: int | None = Field(default=None, foreign_key="complaint.id")
    used_by: str = ""
    message_row_id: int | None = Field(default=None, foreign_key="message.id")
    used_at: datetime = Field(sa_type=UTCDateTime)


class Draft(StoreModel, table=True):
    """One version of a complaint's resolution text; the highest version is current.

    `source` says where it came from: `email` (staff replied to the
    notification), `cli` (`triaged draft`), `edit` (a manager's edited letter).
    """

    __tablename__ = "draft"
    __table_args__ = (UniqueConstraint("complaint_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id")
    version: int
    text: str = Field(sa_type=Text)
    author: str
    source: str
    message_row_id: int | None = Field(default=None, foreign_key="message.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


class ReportRun(StoreModel, table=True):
    """A scheduled owner's report that has been queued, one row per period.

    The unique `period` ("week:2026-11-30", "month:2026-11") is the claim:
    the instance whose insert succeeds queues the letter in the same
    transaction, so restarts and other instances never send it twice.
    """

    __tablename__ = "report_run"

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(unique=True)
    since: datetime = Field(sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


# Partial indexes for the operator's figures (`store/ops_queries.py`), scraped
# every few seconds. Each holds only the few rows it counts, so inserting the
# many rows it does not match costs next to nothing. The predicates are literal
# SQL because SQLite uses a partial index only when the query repeats its
# predicate with the same constants, not bound parameters.
OPEN_COMPLAINT: TextClause = text("state NOT IN ('resolved', 'closed')")
DECISION_EVENT_KINDS: TextClause = text(
    "kind IN ('approved', 'rejected', 'reply_accepted', 'reply_refused', 'letter_suppressed')"
)
UNANSWERED_MESSAGE: TextClause = text("outcome = 'not_complaint'")
Index("ix_complaint_open", metadata.tables["complaint"].c.state,
      metadata.tables["complaint"].c.escalation_level, metadata.tables["complaint"].c.due_at,
      sqlite_where=OPEN_COMPLAINT, postgresql_where=OPEN_COMPLAINT)
Index("ix_event_decisions", metadata.tables["event"].c.kind,
      sqlite_where=DECISION_EVENT_KINDS, postgresql_where=DECISION_EVENT_KINDS)
Index("ix_message_unanswered", metadata.tables["message"].c.rule,
      sqlite_where=UNANSWERED_MESSAGE, postgresql_where=UNANSWERED_MESSAGE)

# The owner's report reads resolutions and satisfaction answers by when they
# happened: only these event kinds are indexed by time, so other events cost
# nothing more to insert.
REPORT_EVENT_KINDS: TextClause = text("kind IN ('approved', 'state_changed')")

Index("ix_event_report_at", metadata.tables["event"].c.at,
      sqlite_where=REPORT_EVENT_KINDS, postgresql_where=REPORT_EVENT_KINDS)

class Blob(StoreModel, table=True):
    """A file's content, stored once however many messages carried it."""

    __tablename__ = "blob"

    sha256: str = Field(primary_key=True)
    size: int = Field(default=0, sa_type=BigInteger)
    data: bytes = Field(sa_type=LargeBinary)


class AttachmentRow(StoreModel, table=True):
    """A file of a complaint: from the customer (`in`) or to them with the final letter
    (`out`, with the draft version it belongs to). `n` numbers a complaint's files
    1, 2, …; `sha256` is NULL when the content was not kept, and `reason` says why."""

    __tablename__ = "attachment"
    __table_args__ = (UniqueConstraint("complaint_id", "n"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id")
    message_row_id: int | None = Field(default=None, foreign_key="message.id")
    n: int
    name: str
    content_type: str = ""
    size: int = Field(default=0, sa_type=BigInteger)
    sha256: str | None = Field(default=None, foreign_key="blob.sha256")
    direction: str = "in"
    draft_version: int | None = None
    inline: bool = False
    content_id: str = ""
    reason: str = Field(default="", sa_type=Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
