"""The outbox is the queue: a letter written, the staff notices held for the digest, and
the letters a delivery report may be about.

A letter is rendered and queued in the same transaction as the change that
caused it (`queue_letter`). Automatic letters are queued within their limits
(`store.automatic_letters`); the sender claims due letters (`store.letter_claims`)
and records each delivery's fate (`store.letter_fates`). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from triaged.domain.events import Event
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import EventKind, LetterKind, LetterState
from triaged.store.models import metadata
from triaged.store.prepared import PreparedInsert

_letter = metadata.tables["outbox_letter"]
_complaint = metadata.tables["complaint"]

_INSERT_LETTER = PreparedInsert(insert(_letter), _letter.c.id)


def letter_detail(
    letter_id: int, kind: str, to_email: str, message_id: str, automatic: bool
) -> dict[str, Any]:
    """The letter fields every letter_* event carries."""
    return {"letter_id": letter_id, "kind": kind, "to": to_email, "message_id": message_id,
            "automatic": automatic}


def queue_letter(
    conn: Connection,
    *,
    complaint_id: int | None,
    kind: LetterKind | str,
    to_email: str,
    message_id: str,
    subject: str,
    raw: bytes,
    automatic: bool,
    now: datetime,
    to_key: str | None = None,
    about_key: str = "",
    state: LetterState = LetterState.QUEUED,
) -> tuple[int, Event | None]:
    """Queue a rendered letter for sending now; return its id and its `letter_queued` event.

    `to_key` is the recipient's mailbox key (`mailbox_key` with the built-in
    dot-ignoring domains when None); `about_key` the sender a staff notice is
    about. A `held` letter is stored but never sent alone (no event: the
    caller logs why). The event (None without a complaint) is for the caller
    to record on its journal with the rest of its events. A second letter with the
    same `message_id` fails on the unique constraint.
    """
    row = letter_row(complaint_id, kind, to_email,
                      mailbox_key(to_email) if to_key is None else to_key, message_id,
                      subject, raw, now, automatic=automatic, about_key=about_key,
                      state=state)
    letter_id = _INSERT_LETTER.insert_id(conn, row)
    assert letter_id is not None, "a letter is always written"
    if state is not LetterState.QUEUED:
        return letter_id, None
    return letter_id, queued_event(letter_id, row)


def letter_row(complaint_id: int | None, kind: LetterKind | str, to_email: str, to_key: str,
               message_id: str, subject: str, raw: bytes, now: datetime, *,
               automatic: bool, about_key: str = "",
               state: LetterState = LetterState.QUEUED) -> dict[str, Any]:
    """A new letter's row, as `queue_letter` writes it."""
    return {"complaint_id": complaint_id, "kind": str(kind), "to_email": to_email,
            "to_key": to_key, "about_key": about_key, "message_id": message_id,
            "subject": subject, "raw": raw, "automatic": automatic, "state": state.value,
            "attempts": 0, "next_attempt_at": now, "last_error": "", "created_at": now,
            "sent_at": None, "claimed_by": ""}



def queued_event(letter_id: int, row: dict[str, Any]) -> Event | None:
    """The `letter_queued` event of the letter `row` (None without a complaint)."""
    if row["complaint_id"] is None:
        return None
    return Event(row["complaint_id"], EventKind.LETTER_QUEUED, row["created_at"], "system",
                 detail=letter_detail(letter_id, row["kind"], row["to_email"],
                                      row["message_id"], row["automatic"]))


@dataclass(frozen=True)
class HeldNotice:
    """A staff notice held back for the digest: to whom, about whom, on what."""

    id: int
    to_email: str
    about_key: str
    complaint_id: int | None
    created_at: datetime


def held_notices(conn: Connection) -> list[HeldNotice]:
    """Every held staff notice, oldest first."""
    found = conn.execute(
        select(_letter.c.id, _letter.c.to_email, _letter.c.about_key, _letter.c.complaint_id,
               _letter.c.created_at)
        .where(_letter.c.state == LetterState.HELD.value)
        .order_by(_letter.c.created_at, _letter.c.id)
    ).all()
    return [HeldNotice(int(r.id), r.to_email, r.about_key, r.complaint_id, r.created_at)
            for r in found]


def digest_held(conn: Connection, letter_ids: list[int], *, digest: str) -> list[tuple[str, str]]:
    """Mark the notices among `letter_ids` still held as listed in the digest whose
    Message-ID is `digest`; return their complaints' (reference, subject), oldest first.

    The update claims them: of two instances digesting at once, one gets each notice.
    """
    taken = conn.execute(
        update(_letter).where(_letter.c.id.in_(letter_ids),
                              _letter.c.state == LetterState.HELD.value)
        .values(state=LetterState.DIGESTED.value, last_error=f"in staff digest {digest}")
        .returning(_letter.c.id)
    ).scalars().all()
    if not taken:
        return []
    found = conn.execute(
        select(_complaint.c.reference, _complaint.c.subject)
        .select_from(_letter.join(_complaint, _letter.c.complaint_id == _complaint.c.id))
        .where(_letter.c.id.in_(taken)).order_by(_letter.c.created_at, _letter.c.id)
    ).all()
    return [(str(row.reference), str(row.subject)) for row in found]


@dataclass(frozen=True)
class LetterRef:
    """An outbox letter a delivery report may be about."""

    id: int
    complaint_id: int | None
    kind: str
    to_email: str
    message_id: str
    state: str
    subject: str


_LETTER_REF_COLUMNS = (_letter.c.id, _letter.c.complaint_id, _letter.c.kind, _letter.c.to_email,
                       _letter.c.message_id, _letter.c.state, _letter.c.subject)


def _letter_ref(row: Any) -> LetterRef:
    return LetterRef(int(row.id), row.complaint_id, row.kind, row.to_email, row.message_id,
                     row.state, row.subject)


def letters_with_message_ids(conn: Connection, message_ids: list[str]) -> list[LetterRef]:
    """Our letters whose Message-ID is one of `message_ids` (with or without brackets)."""
    forms = sorted({form for mid in message_ids
                    for form in (mid, mid.strip("<>"), f"<{mid.strip('<>')}>") if form})
    if not forms:
        return []
    found = conn.execute(select(*_LETTER_REF_COLUMNS).where(_letter.c.message_id.in_(forms))
                         .order_by(_letter.c.id)).all()
    return [_letter_ref(row) for row in found]


def letters_with_ids(conn: Connection, letter_ids: list[int]) -> list[LetterRef]:
    """Our letters with these ids (a bounce returned to their own return addresses)."""
    if not letter_ids:
        return []
    found = conn.execute(select(*_LETTER_REF_COLUMNS).where(_letter.c.id.in_(letter_ids))
                         .order_by(_letter.c.id)).all()
    return [_letter_ref(row) for row in found]


def fail_letter(conn: Connection, letter_id: int, *, error: str, now: datetime) -> None:
    """Mark a letter failed (a bounce after SMTP accepted it, or a suppressed address)."""
    conn.execute(update(_letter).where(_letter.c.id == letter_id)
                 .values(state=LetterState.FAILED.value, last_error=error, next_attempt_at=now))


def fail_waiting_to(conn: Connection, to_email: str, *, error: str, now: datetime) -> list[int]:
    """Fail every letter still queued for `to_email`: it bounced hard, so no retry."""
    rows = conn.execute(
        update(_letter)
        .where(func.lower(_letter.c.to_email) == to_email.lower(),
               _letter.c.state == LetterState.QUEUED.value)
        .values(state=LetterState.FAILED.value, last_error=error, next_attempt_at=now)
        .returning(_letter.c.id)
    ).all()
    return [int(row[0]) for row in rows]
