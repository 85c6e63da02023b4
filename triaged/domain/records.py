"""Enums and the small frozen records that cross layers.

Kept free of any triaged import so that `parse`, `store` and the adapters can
all speak in these terms without importing each other.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime


class ComplaintState(enum.StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    AWAITING_APPROVAL = "awaiting_approval"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Outcome(enum.StrEnum):
    """What became of one incoming message; `stats --json` counts these."""

    COMPLAINT = "complaint"
    FOLLOW_UP = "follow_up"
    NOT_COMPLAINT = "not_complaint"
    QUARANTINED = "quarantined"
    APPROVAL_REPLY = "approval_reply"
    DUPLICATE = "duplicate"


class EventKind(enum.StrEnum):
    REGISTERED = "registered"
    STATE_CHANGED = "state_changed"
    FOLLOW_UP = "follow_up"
    LETTER_QUEUED = "letter_queued"
    LETTER_SENT = "letter_sent"
    LETTER_FAILED = "letter_failed"
    LETTER_SUPPRESSED = "letter_suppressed"
    # A reply carrying a token (approval, draft, escalation…): acted on, or refused and why.
    REPLY_ACCEPTED = "reply_accepted"
    REPLY_REFUSED = "reply_refused"
    DRAFTED = "drafted"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CATEGORIZED = "categorized"
    REMINDED = "reminded"
    ESCALATED = "escalated"
    # A manager's ACK of an escalation, and a promised date moved by EXTEND.
    ESCALATION_ACKNOWLEDGED = "escalation_acknowledged"
    DATE_EXTENDED = "date_extended"
    # Intake: a forward re-attributed to its original customer, or one that could not be.
    FORWARDED = "forwarded"
    FORWARD_UNATTRIBUTED = "forward_unattributed"
    # A forward from someone not trusted to forward: it stays the sender's, its
    # named author is recorded for staff and never written to.
    PASSED_ON = "passed_on"
    # A sender quoted another customer's reference: a new complaint, linked to that one.
    LINKED = "linked"
    # A delivery report for one of our letters; a hard bounce suppresses the address.
    LETTER_BOUNCED = "letter_bounced"
    ADDRESS_SUPPRESSED = "address_suppressed"
    # A bounce of a letter to one of the business's own addresses: never suppressed.
    ADDRESS_FAILING = "address_failing"
    # The operator lifted a suppression or an alert.
    SUPPRESSION_LIFTED = "suppression_lifted"
    # A complaint's personal data was erased (`forget` or retention); the event holds none.
    ERASED = "erased"
    # Staff replayed or discarded a quarantined message.
    QUARANTINE_REPLAYED = "quarantine_replayed"
    QUARANTINE_DISCARDED = "quarantine_discarded"


class LetterState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # A notice to staff past the per-sender limit: never sent alone, it waits for
    # the staff digest, then is `digested` (its complaint is listed there).
    HELD = "held"
    DIGESTED = "digested"


class LetterKind(enum.StrEnum):
    HOLDING = "holding"
    # To staff and managers.
    NEW_COMPLAINT = "new_complaint"
    APPROVAL_REQUEST = "approval_request"
    REFUSAL = "refusal"
    # Something staff must know: a follow-up, a bounce, a forward without its sender.
    STAFF_NOTICE = "staff_notice"
    # The notices held back about one sender's mail, listed in one letter.
    STAFF_DIGEST = "staff_digest"
    APPROVED = "approved"
    REJECTED = "rejected"
    # To the customer.
    FINAL = "final"
    SATISFACTION = "satisfaction"
    EXTENSION = "extension"
    # To staff and managers.
    REMINDER = "reminder"
    ESCALATION = "escalation"
    # To the owner: the figures of a period.
    REPORT = "report"


@dataclass(frozen=True)
class ComplaintRef:
    """What intake needs to know about an existing complaint to thread into it."""

    id: int
    reference: str
    state: ComplaintState
    customer_email: str


@dataclass(frozen=True)
class KnownId:
    """A Message-ID we have met: on one of our letters, or on mail from `sender`.

    `message_id` is bare (no angle brackets); `sender` is "" for our letters;
    `seen` orders rows of one kind by when they were stored.
    """

    message_id: str
    complaint: ComplaintRef
    ours: bool
    sender: str
    seen: int


@dataclass(frozen=True)
class RawMail:
    """One message as a source delivered it: bytes plus where it sits.

    `uid` is the IMAP UID (0 for a Maildir); `key` names the message for
    `mark_processed` (the UID as text, or the Maildir key).
    """

    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    key: str
    data: bytes

    @functools.cached_property
    def sha256(self) -> str:
        """The bytes' SHA-256 (hex): a message's identity for duplicates and its
        attempt marks, computed once (a stored message may be 25 MB)."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class Address:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    """A file found in a message: its name and type as the sender declared them.

    `data` is the decoded content (empty when it could not be read; `note` then
    says why, as it does when the bytes are doubtful, e.g. broken base64).
    `inline`: shown in the body (an image of an HTML mail), `content_id` its
    `cid:`. `embedded`: found inside an attached message (a forward's original).
    """

    filename: str
    content_type: str
    size: int
    data: bytes = b""
    inline: bool = False
    content_id: str = ""
    embedded: bool = False
    note: str = ""


@dataclass(frozen=True)
class LetterFile:
    """A file a letter carries: `inline` ones are shown in the HTML body by `content_id`."""

    name: str
    content_type: str
    data: bytes
    inline: bool = False
    content_id: str = ""


@dataclass(frozen=True)
class ParsedMail:
    """What intake needs to know about a message, decoded to text."""

    message_id: str
    sender: Address
    to: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    content_language: str = ""
    # Raw bytes of message/rfc822 parts (a forward's original), at most a few.
    embedded: tuple[bytes, ...] = ()

    def header(self, name: str) -> str | None:
        """Return the first header called `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def has_header(self, name: str) -> bool:
        return self.header(name) is not None


@dataclass(frozen=True)
class Verdict:
    """What classification decided and which rule decided it."""

    outcome: Outcome
    rule: str
    reason: str = ""


@dataclass(frozen=True)
class Letter:
    """A rendered letter before it becomes MIME."""

    kind: LetterKind
    to: Address
    subject: str
    text: str
    html: str
    language: str
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    auto_submitted: str = "auto-replied"
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
    files: tuple[LetterFile, ...] = ()
