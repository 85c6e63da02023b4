"""Rows of approval by email: used tokens and drafts, in Core on the caller's connection.

Nothing here commits; the use case that calls it owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from triaged.domain.records import ComplaintRef, ComplaintState
from triaged.store.db import savepoint
from triaged.store.models import metadata
from triaged.store.personal import ERASED_PREFIX

_used = metadata.tables["used_token"]
_draft = metadata.tables["draft"]
_message = metadata.tables["message"]


@dataclass(frozen=True)
class DraftRow:
    id: int
    complaint_id: int
    version: int
    text: str
    author: str
    source: str
    created_at: datetime


def token_used_at(conn: Connection, digest: str) -> datetime | None:
    """When the token with this digest was used, or None if never."""
    found = conn.execute(select(_used.c.used_at).where(_used.c.digest == digest)).first()
    return found[0] if found is not None else None


def use_token(
    conn: Connection,
    *,
    digest: str,
    purpose: str,
    complaint_id: int | None,
    used_by: str,
    message_row_id: int | None,
    now: datetime,
) -> bool:
    """Record the token as used; False when it already was (a replay that raced us).

    Runs in a savepoint so that the unique-constraint failure leaves the
    caller's transaction usable.
    """
    try:
        with savepoint(conn):
            conn.execute(insert(_used).values(
                digest=digest, purpose=purpose, complaint_id=complaint_id, used_by=used_by,
                message_row_id=message_row_id, used_at=now))
    except IntegrityError:
        return False
    return True


def current_draft(conn: Connection, complaint_id: int) -> DraftRow | None:
    """The highest version of the complaint's draft, or None when there is none."""
    row = conn.execute(
        select(_draft).where(_draft.c.complaint_id == complaint_id)
        .order_by(_draft.c.version.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return DraftRow(int(row.id), int(row.complaint_id), int(row.version), row.text, row.author,
                    row.source, row.created_at)


def current_version(conn: Connection, complaint_id: int) -> int:
    """The current draft version, 0 when nothing has been drafted."""
    found = conn.execute(
        select(func.max(_draft.c.version)).where(_draft.c.complaint_id == complaint_id)
    ).scalar()
    return int(found or 0)


def add_draft(
    conn: Connection,
    *,
    complaint_id: int,
    text: str,
    author: str,
    source: str,
    message_row_id: int | None,
    now: datetime,
) -> DraftRow:
    """Store `text` as the next version of the complaint's draft and return it."""
    version = current_version(conn, complaint_id) + 1
    draft_id = conn.execute(
        insert(_draft).values(complaint_id=complaint_id, version=version, text=text,
                              author=author, source=source, message_row_id=message_row_id,
                              created_at=now).returning(_draft.c.id)
    ).scalar_one()
    return DraftRow(int(draft_id), complaint_id, version, text, author, source, now)


def set_message_reason(conn: Connection, message_row_id: int, reason: str) -> None:
    """Say on the stored message why its reply was refused (shown by `show`)."""
    conn.execute(update(_message).where(_message.c.id == message_row_id)
                 .values(reason=reason[:500]))


_complaint = metadata.tables["complaint"]
_event = metadata.tables["event"]
_letter = metadata.tables["outbox_letter"]


@dataclass(frozen=True)
class ComplaintFacts:
    """What drafting, approval and the closing letters need to know about a complaint."""

    id: int
    reference: str
    state: ComplaintState
    mailbox: str
    customer_email: str
    customer_name: str
    subject: str
    language: str
    received_at: datetime
    due_at: datetime

    @property
    def ref(self) -> ComplaintRef:
        return ComplaintRef(self.id, self.reference, self.state, self.customer_email)


def complaint_facts(conn: Connection, complaint_id: int) -> ComplaintFacts | None:
    row = conn.execute(select(_complaint).where(_complaint.c.id == complaint_id)).first()
    if row is None:
        return None
    return ComplaintFacts(int(row.id), row.reference, ComplaintState(row.state), row.mailbox,
                          row.customer_email, row.customer_name, row.subject, row.language,
                          row.received_at, row.due_at)


def complaint_id_by_reference(conn: Connection, reference: str) -> int | None:
    found = conn.execute(select(_complaint.c.id).where(_complaint.c.reference == reference))
    value = found.scalar()
    return int(value) if value is not None else None


def conversation(conn: Connection, complaint: ComplaintFacts) -> tuple[str, tuple[str, ...]]:
    """(the customer's latest Message-ID, every id of the conversation oldest first).

    The conversation is what the customer sent that belongs to the complaint and
    what we sent to them; a letter to the customer threads under the latest.
    """
    incoming = conn.execute(
        select(_message.c.message_id, _message.c.received_at)
        .where(_message.c.complaint_id == complaint.id,
               _message.c.outcome.in_(("complaint", "follow_up")),
               func.lower(_message.c.sender) == complaint.customer_email.lower(),
               _message.c.message_id != "")
    ).all()
    outgoing = conn.execute(
        select(_letter.c.message_id, _letter.c.created_at)
        .where(_letter.c.complaint_id == complaint.id,
               func.lower(_letter.c.to_email) == complaint.customer_email.lower())
    ).all()
    latest = max(incoming, key=lambda r: r[1])[0] if incoming else ""
    chain = sorted([*incoming, *outgoing], key=lambda r: r[1])
    return latest, tuple(dict.fromkeys(r[0] for r in chain))


def first_text(conn: Connection, complaint_id: int) -> str:
    """What the customer wrote in the message that opened the complaint."""
    found = conn.execute(
        select(_message.c.text).where(_message.c.complaint_id == complaint_id,
                                      _message.c.outcome == "complaint")
        .order_by(_message.c.id).limit(1)
    ).scalar()
    return str(found or "")


def events_of(conn: Connection, complaint_id: int) -> list[tuple[datetime, str, str, str]]:
    """(at, kind, actor, detail JSON) of the complaint's events, oldest first."""
    found = conn.execute(
        select(_event.c.at, _event.c.kind, _event.c.actor, _event.c.detail)
        .where(_event.c.complaint_id == complaint_id).order_by(_event.c.id)
    ).all()
    return [(r.at, r.kind, r.actor, r.detail) for r in found]


@dataclass(frozen=True)
class Settling:
    """A resolved complaint: when its final letter went out, and its satisfaction check."""

    complaint_id: int
    final_sent_at: datetime
    check_queued: bool
    check_sent_at: datetime | None


def resolved_complaints(conn: Connection) -> list[Settling]:
    """Every resolved complaint whose final letter was delivered, with its check's state.

    Only letters since the latest final letter count: a complaint reopened and
    resolved again is asked again.
    """
    # An erased complaint has no customer left to ask.
    resolved = select(_complaint.c.id).where(_complaint.c.state == ComplaintState.RESOLVED.value,
                                             ~_complaint.c.reference.startswith(ERASED_PREFIX))
    return _settling(conn, resolved)


def settling_of(conn: Connection, complaint_id: int) -> Settling | None:
    """`resolved_complaints` for one complaint, read afresh with its row locked.

    Several instances scan at once on PostgreSQL: the row lock (`FOR UPDATE`,
    held to the end of the caller's transaction) makes a second one wait and
    then see the check the first queued. SQLite's write lock does the same.
    """
    locked = conn.execute(
        select(_complaint.c.id)
        .where(_complaint.c.id == complaint_id,
               _complaint.c.state == ComplaintState.RESOLVED.value)
        .with_for_update()
    ).first()
    if locked is None:
        return None
    found = _settling(conn, select(_complaint.c.id).where(_complaint.c.id == complaint_id))
    return found[0] if found else None


def _settling(conn: Connection, resolved: Select[tuple[int]]) -> list[Settling]:
    letters = conn.execute(
        select(_letter.c.complaint_id, _letter.c.kind, _letter.c.state, _letter.c.created_at,
               _letter.c.sent_at)
        .where(_letter.c.complaint_id.in_(resolved.scalar_subquery()),
               _letter.c.kind.in_(("final", "satisfaction")))
        .order_by(_letter.c.id)
    ).all()
    latest: dict[int, Any] = {}
    checks: dict[int, list[Any]] = {}
    for row in letters:
        if row.kind == "final":
            latest[row.complaint_id] = row
            checks[row.complaint_id] = []
        elif row.complaint_id in checks:
            checks[row.complaint_id].append(row)
    found = []
    for complaint_id, final in latest.items():
        if final.sent_at is None:
            continue
        asked = checks[complaint_id]
        sent = [r.sent_at for r in asked if r.sent_at is not None]
        found.append(Settling(int(complaint_id), final.sent_at, bool(asked),
                              min(sent) if sent else None))
    return found
