"""Incoming messages: storing them, spotting duplicates, the forms a Message-ID
is stored in, and the quarantine where unprocessable ones wait for staff.

Nothing here commits; callers run these inside their own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import false, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from triaged.domain.clock import as_utc
from triaged.domain.records import Outcome
from triaged.store.complaints import add_event
from triaged.store.models import (
    QUARANTINE_STATES,
    MessageRow,
    OutboxLetter,
    Quarantine,
)

# The decoded body is stored for display and duplicate detection, not as the
# record of the message (the raw bytes are): cap it so one huge mail cannot
# bloat every query that touches the table.
TEXT_CAP = 200_000


def cap_text(text: str) -> str:
    """Return `text` cut to `TEXT_CAP` characters, as it is stored."""
    return text[:TEXT_CAP]


# The raw bytes themselves are capped by `[limits] raw_max`: the row's reason
# then carries this note, and `size` how large the mail was.
RAW_CUT_MARK = "[limits] raw_max"


def raw_cut_note(size: int, kept: int) -> str:
    """The note a message row carries when only `kept` of its `size` raw bytes are stored."""
    return f"raw mail of {size:,} bytes stored only to its first {kept:,} ({RAW_CUT_MARK})"


def raw_was_cut(reason: str) -> bool:
    """Whether a message row's reason says its raw bytes were cut at the cap."""
    return RAW_CUT_MARK in reason


def add_message(session: Session, **fields: Any) -> MessageRow:
    """Store one incoming message (flushed, so it has an id).

    `fields` are `MessageRow` columns; `text` is capped at `TEXT_CAP` characters.
    """
    if "text" in fields:
        fields["text"] = cap_text(fields["text"])
    row = MessageRow(**fields)
    session.add(row)
    session.flush()
    return row


def find_duplicate(
    session: Session,
    *,
    sha256: str,
    message_id: str,
    sender: str,
    sent_date: datetime | None,
    text: str,
) -> MessageRow | None:
    """Return the stored original this message duplicates, or None (SPEC §9).

    A duplicate has the same raw-bytes hash as a stored message, or the same
    Message-ID *and* the same sender (case-insensitive), date and text. Mail
    that merely reuses a Message-ID is not a duplicate. Only originals are
    returned, never rows that are themselves duplicates.
    """
    # One indexed query for both rules (SQLite uses both indexes for the OR);
    # only light columns are read, and the full row only for a hit.
    session.flush()  # a Core query does not autoflush; rows added just now count
    table = MessageRow.metadata.tables["message"]
    same_id = table.c.message_id == message_id if message_id else false()
    candidates = (
        session.connection()
        .execute(
            core_select(table.c.id, table.c.sha256, table.c.sender, table.c.sent_date, table.c.text)
            .where(
                or_(table.c.sha256 == sha256, same_id),
                table.c.duplicate_of.is_(None),
                table.c.outcome != Outcome.QUARANTINED.value,
            )
            .order_by(table.c.id)
        )
        .all()
    )
    hit = next((c for c in candidates if c.sha256 == sha256), None)
    if hit is None and message_id:
        wanted_date = as_utc(sent_date) if sent_date is not None else None
        wanted_text = cap_text(text)
        hit = next(
            (
                c
                for c in candidates
                if c.sender.lower() == sender.lower()
                and c.sent_date == wanted_date
                and c.text == wanted_text
            ),
            None,
        )
    return session.get(MessageRow, hit.id) if hit is not None else None


def id_forms(message_ids: Iterable[str]) -> set[str]:
    """Every form a Message-ID may be stored in: with and without angle brackets."""
    forms: set[str] = set()
    for raw in message_ids:
        bare = raw.strip().strip("<>").strip()
        if bare:
            forms.update({bare, f"<{bare}>"})
    return forms


def is_our_message_id(session: Session, message_id: str) -> bool:
    """Say whether `message_id` is the Message-ID of one of our outbox letters."""
    forms = id_forms([message_id])
    if not forms:
        return False
    found = session.exec(
        select(OutboxLetter.id).where(col(OutboxLetter.message_id).in_(forms)).limit(1)
    ).first()
    return found is not None


def quarantine(session: Session, row: MessageRow, reason: str, now: datetime) -> Quarantine:
    """Park `row` for staff with `reason`; the row's outcome becomes `quarantined`.

    The message stays stored (raw bytes included) and counted.
    """
    row.outcome = Outcome.QUARANTINED.value
    row.reason = reason
    session.add(row)
    session.flush()
    if row.id is None:
        raise ValueError("quarantine needs a stored message row")
    parked = Quarantine(message_row_id=row.id, reason=reason, state="open", created_at=now)
    session.add(parked)
    session.flush()
    return parked


def list_quarantine(
    session: Session, state: str | None = "open"
) -> list[tuple[Quarantine, MessageRow]]:
    """Return quarantined messages in `state` (all when None), oldest first."""
    query = select(Quarantine, MessageRow).where(Quarantine.message_row_id == MessageRow.id)
    if state is not None:
        query = query.where(Quarantine.state == state)
    return [(q, m) for q, m in session.exec(query.order_by(col(Quarantine.id)))]


def get_quarantine(session: Session, quarantine_id: int) -> tuple[Quarantine, MessageRow] | None:
    """Return one quarantine entry with its message, or None."""
    parked = session.get(Quarantine, quarantine_id)
    if parked is None:
        return None
    row = session.get(MessageRow, parked.message_row_id)
    if row is None:
        return None
    return parked, row


def set_quarantine_state(
    session: Session, quarantine_id: int, state: str, now: datetime, *, actor: str = "system"
) -> Quarantine:
    """Mark an open quarantine entry `replayed` or `discarded`, and log it.

    Raises `LookupError` for an unknown id and `ValueError` for an unknown
    state or an entry that is no longer open.
    """
    if state not in QUARANTINE_STATES or state == "open":
        raise ValueError(f"quarantine state must be replayed or discarded, not {state!r}")
    parked = session.get(Quarantine, quarantine_id)
    if parked is None:
        raise LookupError(f"no quarantine entry {quarantine_id}")
    if parked.state != "open":
        raise ValueError(f"quarantine entry {quarantine_id} is already {parked.state}")
    parked.state = state
    session.add(parked)
    row = session.get(MessageRow, parked.message_row_id)
    add_event(
        session,
        row.complaint_id if row is not None else None,
        f"quarantine_{state}",
        now=now,
        actor=actor,
        message_row_id=parked.message_row_id,
        detail={"quarantine_id": quarantine_id, "reason": parked.reason},
    )
    return parked
