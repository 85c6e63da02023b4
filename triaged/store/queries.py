"""Read-only queries behind `triaged list`, `show` and `stats`."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from triaged.domain.records import ComplaintState, LetterKind, LetterState, Outcome
from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter, Quarantine

_DONE = (ComplaintState.RESOLVED.value, ComplaintState.CLOSED.value)


def list_complaints(
    session: Session, *, state: str | None = None, overdue: bool = False, now: datetime
) -> list[Complaint]:
    """Return complaints, oldest received first.

    `state` keeps only that state; `overdue` keeps only unresolved complaints
    whose `due_at` is before `now` (overdue is not a state).
    """
    query = select(Complaint)
    if state is not None:
        query = query.where(Complaint.state == state)
    if overdue:
        query = query.where(col(Complaint.due_at) < now, col(Complaint.state).not_in(_DONE))
    query = query.order_by(col(Complaint.received_at), col(Complaint.id))
    return list(session.exec(query))


def existing_references(conn: Connection, candidates: list[str]) -> list[str]:
    """Those of `candidates` that are references of complaints, in `candidates`' order.
    One read (a deferred transaction: it never waits for the write lock)."""
    if not candidates:
        return []
    table = Complaint.__table__  # type: ignore[attr-defined]
    found = {row[0] for row in conn.execute(
        sa_select(table.c.reference).where(table.c.reference.in_(candidates)))}
    return [c for c in candidates if c in found]


def complaint_detail(
    session: Session, reference: str
) -> tuple[Complaint, list[MessageRow], list[OutboxLetter], list[Event]] | None:
    """Return a complaint with its messages, letters and events, each oldest first."""
    complaint = session.exec(select(Complaint).where(Complaint.reference == reference)).first()
    if complaint is None:
        return None
    messages = session.exec(
        select(MessageRow)
        .where(MessageRow.complaint_id == complaint.id)
        .order_by(col(MessageRow.received_at), col(MessageRow.id))
    ).all()
    letters = session.exec(
        select(OutboxLetter)
        .where(OutboxLetter.complaint_id == complaint.id)
        .order_by(col(OutboxLetter.created_at), col(OutboxLetter.id))
    ).all()
    events = session.exec(
        select(Event)
        .where(Event.complaint_id == complaint.id)
        .order_by(col(Event.at), col(Event.id))
    ).all()
    # Reminders and escalations are digests about several complaints: their events
    # name the letters, which carry no one complaint.
    digests = sorted({letter["message_id"] for e in events for letter in _event_letters(e)})
    if digests:
        shared = session.exec(
            select(OutboxLetter).where(col(OutboxLetter.message_id).in_(digests),
                                       col(OutboxLetter.complaint_id).is_(None))
        ).all()
        letters = sorted([*letters, *shared], key=lambda x: (x.created_at, x.id or 0))
    return complaint, list(messages), list(letters), list(events)


def _event_letters(event: Event) -> list[dict[str, Any]]:
    """The letters an event's detail names (`{"to", "message_id"}` each), if any."""
    if not event.detail:
        return []
    try:
        named = json.loads(event.detail).get("letters")
    except (ValueError, AttributeError):
        return []
    if not isinstance(named, list):
        return []
    return [x for x in named if isinstance(x, dict) and isinstance(x.get("message_id"), str)]


def _counts(session: Session, column: str, table: str, names: list[str]) -> dict[str, int]:
    # Every known name is present, with 0 when nothing has it (scripts rely on
    # the keys); unknown values found in the table are kept too.
    counts = dict.fromkeys(names, 0)
    sql_table = Complaint.metadata.tables[table]
    grouped = session.execute(
        select(sql_table.c[column], func.count()).group_by(sql_table.c[column])
    ).all()
    for value, count in grouped:
        counts[str(value)] = int(count)
    return counts


def outcome_counts(session: Session) -> dict[str, int]:
    """Return how many incoming messages had each `Outcome` (the `messages` of `stats --json`).

    A quarantined message that was replayed is counted once, by the outcome of
    its replay: its quarantined copy stays stored as history, not as a second mail.
    """
    counts = _counts(session, "outcome", "message", [o.value for o in Outcome])
    replayed = session.execute(
        select(func.count()).select_from(Quarantine).where(Quarantine.state == "replayed")
    ).scalar_one()
    counts[Outcome.QUARANTINED.value] -= int(replayed)
    return counts


def state_counts(session: Session) -> dict[str, int]:
    """Return how many complaints are in each `ComplaintState`."""
    return _counts(session, "state", "complaint", [s.value for s in ComplaintState])


def letters_by_state(session: Session) -> dict[str, int]:
    """Return how many outbox letters are in each `LetterState`."""
    return _counts(session, "state", "outbox_letter", [s.value for s in LetterState])


def queued_letters(session: Session) -> int:
    """How many letters wait in the outbox; reads only the queued rows of the state index."""
    query = select(func.count()).select_from(OutboxLetter).where(
        col(OutboxLetter.state) == LetterState.QUEUED.value)
    return int(session.exec(query).one())


def holding_reply_delays(session: Session) -> list[float]:
    """Return, per complaint with a sent holding letter, the seconds from its
    `received_at` to the first holding letter's `sent_at`."""
    rows = session.exec(
        select(Complaint.id, Complaint.received_at, func.min(OutboxLetter.sent_at))
        .where(
            OutboxLetter.complaint_id == Complaint.id,
            OutboxLetter.kind == LetterKind.HOLDING.value,
            OutboxLetter.state == LetterState.SENT.value,
            col(OutboxLetter.sent_at).is_not(None),
        )
        .group_by(col(Complaint.id), col(Complaint.received_at))
        .order_by(col(Complaint.id))
    ).all()
    return [
        (sent_at - received_at).total_seconds()
        for _id, received_at, sent_at in rows
        if sent_at is not None
    ]
