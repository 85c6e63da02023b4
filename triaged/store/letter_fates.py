"""A letter's fate: SMTP accepted it (sent, and a holding reply acknowledges its
complaint) or refused it (retried with backoff, or failed).

Temporary failures back off exponentially until `max_attempts`, after which
the letter stays `failed` for staff to see. Nothing here commits: the sender
wraps each `record_sent` and `record_failed` in a transaction of its own (with
the claim of that connection's next letter), committed before the next
letter's delivery starts, so a crash re-sends at most the one letter whose
acceptance by SMTP was not yet written down. On SQLite the acceptance is
written down in the sender's sent journal first, and `record_sent_all` brings
a journal's fates in later (`store.sent_journal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Integer,
    Text,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
    update,
)

from triaged.domain.events import Event
from triaged.domain.lifecycle import check_move
from triaged.domain.records import ComplaintState, EventKind, LetterKind, LetterState
from triaged.store.journal import Journal, events_from
from triaged.store.letter_claims import ClaimedLetter
from triaged.store.models import metadata
from triaged.store.outbox_rows import letter_detail
from triaged.store.prepared import Prepared
from triaged.store.rows import change_state, change_states, encode_detail

_letter = metadata.tables["outbox_letter"]
_complaint = metadata.tables["complaint"]
_event = metadata.tables["event"]

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
# Letters that failed together (an SMTP outage) should not all retry in the
# same second; each gets up to this fraction extra, fixed by its id.
BACKOFF_JITTER = 0.1
_MARK_SENT = (
    update(_letter)
    .where(_letter.c.id == bindparam("letter_id"))
    .values(state=LetterState.SENT.value, sent_at=bindparam("now"), tried_at=bindparam("now"),
            attempts=_letter.c.attempts + 1, last_error="", claimed_by="")
    .returning(_letter.c.attempts)
)
# The sent journal's letters: read once, then marked sent in one executemany.
_SENT_COLUMNS = (_letter.c.id, _letter.c.attempts, _letter.c.complaint_id, _letter.c.kind,
                 _letter.c.to_email, _letter.c.message_id, _letter.c.automatic)
_MARK_SENT_IF_SENDING = Prepared(
    update(_letter)
    .where(_letter.c.id == bindparam("letter_id"),
           _letter.c.state == LetterState.SENDING.value)
    .values(state=LetterState.SENT.value, sent_at=bindparam("now"), tried_at=bindparam("now"),
            attempts=_letter.c.attempts + 1, last_error="", claimed_by="")
)


def record_sent(conn: Connection, letter: ClaimedLetter, *, now: datetime) -> bool:
    """Record that SMTP accepted `letter`: state sent, `letter_sent`, and for a holding
    reply the complaint's move received → acknowledged with its `state_changed`.

    Returns whether the complaint was acknowledged by this call. The caller
    commits right after, one letter per transaction.
    """
    if letter.complaint_id is not None and conn.dialect.name == "postgresql":
        return _record_sent_at_once(conn, letter, now=now)
    attempts = conn.execute(_MARK_SENT, {"letter_id": letter.id, "now": now}).scalar_one()
    with Journal(conn) as journal:
        return _sent(conn, journal, letter, int(attempts), now)


def record_sent_all(conn: Connection, accepted: Sequence[tuple[int, datetime]]) -> int:
    """Record letters SMTP accepted, each `(letter id, when)`, as `record_sent` does, in a
    few statements for all of them; return how many changed.

    A letter no longer `sending` is left alone, so the same acceptance written
    twice (a sent journal read again after a crash, `store.sent_journal`)
    changes nothing the second time.
    """
    when = dict(accepted)
    ids = sorted(when)
    found: list[Any] = []
    for start in range(0, len(ids), 500):
        found += conn.execute(select(*_SENT_COLUMNS).where(
            _letter.c.id.in_(ids[start:start + 500]),
            _letter.c.state == LetterState.SENDING.value)).all()
    if not found:
        return 0
    found.sort(key=lambda row: (when[row.id], row.id))
    _MARK_SENT_IF_SENDING.executemany(
        conn, [{"letter_id": row.id, "now": when[row.id]} for row in found])
    sent: list[tuple[Event, int | None]] = []  # and the complaint a holding reply moves
    holding: list[tuple[int, datetime, dict[str, Any]]] = []
    for row in found:
        if row.complaint_id is None:
            continue
        moves = row.kind == LetterKind.HOLDING.value
        sent.append((Event(row.complaint_id, EventKind.LETTER_SENT, when[row.id], "system",
                           detail={**letter_detail(row.id, row.kind, row.to_email,
                                                   row.message_id, bool(row.automatic)),
                                   "attempts": int(row.attempts) + 1}),
                     row.complaint_id if moves else None))
        if moves:
            holding.append((row.complaint_id, when[row.id], {"letter": row.message_id}))
    moved = change_states(conn, holding, ComplaintState.RECEIVED, ComplaintState.ACKNOWLEDGED,
                          actor="system")
    with Journal(conn) as journal:
        for event, acknowledged in sent:
            journal.record(event)
            if acknowledged is not None:
                journal.record(moved.pop(acknowledged, None))
    return len(found)


def _sent(conn: Connection, journal: Journal, letter: ClaimedLetter, attempts: int,
          now: datetime) -> bool:
    """The events of a letter just marked sent; whether its complaint was acknowledged."""
    if letter.complaint_id is None:
        return False
    journal.record(Event(letter.complaint_id, EventKind.LETTER_SENT, now, "system",
                         detail={**letter_detail(letter.id, letter.kind, letter.to_email,
                                                 letter.message_id, letter.automatic),
                                 "attempts": attempts}))
    if letter.kind != LetterKind.HOLDING.value:
        return False
    acknowledged = change_state(conn, letter.complaint_id, ComplaintState.RECEIVED,
                                ComplaintState.ACKNOWLEDGED, now=now, actor="system",
                                detail={"letter": letter.message_id})
    journal.record(acknowledged)
    return acknowledged is not None


# `record_sent` on PostgreSQL: the letter's mark, the complaint's move and their events
# in one statement, as each statement is a round trip to the server (two fewer per
# letter sent). The same rows and events as the statements above, in the same order.
_SENT = _MARK_SENT.cte("sent")
_MOVED = (update(_complaint)
          .where(_complaint.c.id == bindparam("cid"),
                 _complaint.c.state == ComplaintState.RECEIVED.value,
                 bindparam("holding", type_=Boolean))
          .values(state=ComplaintState.ACKNOWLEDGED.value, updated_at=bindparam("now"))
          .returning(_complaint.c.id)
          .cte("moved"))


def _event_row(kind: EventKind, detail: ColumnElement[str]) -> Any:
    # Typed: in a UNION ALL an untyped NULL or bind would be read as text.
    return (bindparam("cid", type_=Integer), cast(null(), Integer),
            bindparam("now", type_=_event.c.at.type), literal(kind.value), literal("system"),
            detail)


_SENT_EVENTS = events_from(union_all(
    # encode_detail's keys are sorted, and "attempts" comes first of a letter's.
    select(*_event_row(EventKind.LETTER_SENT, literal('{"attempts": ')
                       + cast(_SENT.c.attempts, Text) + ", " + bindparam("sent_rest")))
    .select_from(_SENT),
    select(*_event_row(EventKind.STATE_CHANGED, bindparam("moved_detail", type_=Text)))
    .select_from(_MOVED),
)).cte("logged")
_RECORD_SENT = (select(_SENT.c.attempts,
                       select(func.count()).select_from(_MOVED).scalar_subquery())
                .add_cte(_SENT_EVENTS))


def _record_sent_at_once(conn: Connection, letter: ClaimedLetter, *, now: datetime) -> bool:
    holding = letter.kind == LetterKind.HOLDING.value
    if holding:
        check_move(f"#{letter.complaint_id}", ComplaintState.RECEIVED,
                   ComplaintState.ACKNOWLEDGED)
    sent = encode_detail(letter_detail(letter.id, letter.kind, letter.to_email,
                                       letter.message_id, letter.automatic))
    moved = encode_detail({"letter": letter.message_id,
                           "from": ComplaintState.RECEIVED.value,
                           "to": ComplaintState.ACKNOWLEDGED.value})
    _attempts, acknowledged = conn.execute(_RECORD_SENT, {
        "letter_id": letter.id, "cid": letter.complaint_id, "now": now, "holding": holding,
        "sent_rest": sent.removeprefix("{"), "moved_detail": moved}).one()
    return bool(acknowledged)


def backoff_delay(attempts: int, letter_id: int) -> timedelta:
    """Return how long to wait after the `attempts`-th failed attempt.

    30 s, 60 s, 120 s … doubling, capped at one hour, plus up to 10 % jitter
    fixed by `letter_id` (deterministic, so tests and operators can predict it).
    """
    doubled = BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20))
    delay = min(doubled, BACKOFF_CAP)
    spread = (letter_id * 2654435761 % 1000) / 1000 * BACKOFF_JITTER
    return delay * (1 + spread)


_COUNT_ATTEMPT = (
    update(_letter)
    .where(_letter.c.id == bindparam("letter_id"))
    .values(attempts=_letter.c.attempts + 1, last_error=bindparam("error"),
            tried_at=bindparam("now"), claimed_by="")
    .returning(_letter.c.attempts, _letter.c.complaint_id, _letter.c.kind, _letter.c.to_email,
               _letter.c.message_id, _letter.c.automatic)
)
_RESCHEDULE = (
    update(_letter)
    .where(_letter.c.id == bindparam("letter_id"))
    .values(state=bindparam("state"), next_attempt_at=bindparam("next"))
)


def record_failed(
    conn: Connection,
    letter_id: int,
    *,
    now: datetime,
    error: str,
    permanent: bool,
    max_attempts: int,
) -> LetterState:
    """Record a failed delivery attempt and return the letter's new state.

    A temporary failure queues the letter again after `backoff_delay` until it
    has been tried `max_attempts` times; a permanent one fails it at once.
    Logs `letter_failed` with the error and whether it will be retried.
    Raises `LookupError` for an unknown letter.
    """
    found = conn.execute(_COUNT_ATTEMPT, {"letter_id": letter_id, "error": error,
                                         "now": now}).first()
    if found is None:
        raise LookupError(f"no outbox letter {letter_id}")
    attempts = int(found.attempts)
    if permanent or attempts >= max_attempts:
        state, next_attempt_at = LetterState.FAILED, now
    else:
        state, next_attempt_at = LetterState.QUEUED, now + backoff_delay(attempts, letter_id)
    conn.execute(_RESCHEDULE, {"letter_id": letter_id, "state": state.value,
                               "next": next_attempt_at})
    if found.complaint_id is not None:
        detail = {**letter_detail(letter_id, found.kind, found.to_email, found.message_id,
                                  bool(found.automatic)),
                  "error": error, "permanent": permanent, "attempts": attempts,
                  "retry_at": next_attempt_at if state is LetterState.QUEUED else None}
        with Journal(conn) as journal:
            journal.record(Event(found.complaint_id, EventKind.LETTER_FAILED, now, "system",
                                 detail=detail))
    return state
