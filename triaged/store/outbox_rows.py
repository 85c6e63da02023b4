"""The outbox is the queue: queue, count, claim, and record each delivery's fate.

A letter is rendered and queued in the same transaction as the change that
caused it. The sender claims due letters as a lease in its own name
(`claimed_by`, see `store.claims`), so no two senders get the same letter, and
a letter whose sender died is claimed again as soon as that sender is known to
be gone, or once the lease runs out. Temporary failures back off
exponentially until `max_attempts`, after which the letter stays `failed` for
staff to see. The counts behind
`letter_limits` are here too.

Nothing here commits: the sender wraps each `record_sent` and `record_failed`
in a transaction of its own (with the claim of that connection's next letter),
committed before the next letter's delivery starts, so a crash re-sends at most
the one letter whose acceptance by SMTP was not yet written down. On SQLite the
acceptance is written down in the sender's sent journal first, and
`record_sent_all` brings a journal's fates in later (`store.sent_journal`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Integer,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)

from triaged.domain.events import Event
from triaged.domain.lifecycle import check_move
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import ComplaintState, EventKind, LetterKind, LetterState
from triaged.store import suppression
from triaged.store.journal import Journal, events_from
from triaged.store.models import metadata
from triaged.store.ownership import lock_until_commit
from triaged.store.prepared import Prepared
from triaged.store.rows import change_state, change_states, encode_detail
from triaged.store.suppression import STOPS_MAIL

_letter = metadata.tables["outbox_letter"]
_complaint = metadata.tables["complaint"]
_suppressed = metadata.tables["suppressed_address"]
_event = metadata.tables["event"]

# Every automatic letter counts against the limits, whatever became of it: a
# letter that failed or bounced was still written (a forged bounce must not
# make room for another). None is excluded, not even a letter `fail_waiting_to`
# stopped before it left: its address bounced hard and gets nothing more anyway.
_INSERT_LETTER = Prepared(insert(_letter).returning(_letter.c.id))
_COUNT_AUTOMATIC_TO = (
    select(func.count())
    .select_from(_letter)
    .where(
        _letter.c.to_key == bindparam("key"),
        # Wrapped so that SQLite cannot read this through the (automatic, created_at)
        # index, which it otherwise prefers: that reads every automatic letter of the
        # day for each one written, where (to_key, created_at) reads the mailbox's few.
        func.coalesce(_letter.c.automatic, False).is_(True),
        _letter.c.created_at >= bindparam("since"),
    )
)
# Staff notices about one sender's mail (a digest is not one of them).
NOTICE_KINDS = (LetterKind.NEW_COMPLAINT.value, LetterKind.STAFF_NOTICE.value)
_COUNT_NOTICES = (
    select(func.count())
    .select_from(_letter)
    .where(
        _letter.c.about_key == bindparam("about"),
        _letter.c.created_at >= bindparam("since"),
        _letter.c.to_key == bindparam("key"),
        _letter.c.kind.in_(NOTICE_KINDS),
    )
)
# Both questions asked of every automatic letter, in one statement: is its address
# suppressed, and how many automatic letters has its mailbox had lately.
_GATE = Prepared(select(STOPS_MAIL.label("suppressed"), _COUNT_AUTOMATIC_TO.scalar_subquery()))


@functools.lru_cache(maxsize=4)
def _queue_gated(per_hour: int) -> Any:
    # An automatic letter written on PostgreSQL with its gate read in the same statement:
    # WITH's parts all see the table as it was before the statement, so the counts
    # leave out the letter written. Built once per hourly cap (a setting), the cap a
    # constant: a LIMIT bound at run time would have PostgreSQL plan the statement
    # afresh for every letter.
    last_hour = (select(_letter.c.id)
                 .where(_letter.c.automatic.is_(True),
                        _letter.c.created_at >= bindparam("hour_since"))
                 .limit(literal_column(str(int(per_hour)), Integer)).subquery())
    overall = (select(func.count()).select_from(last_hour).scalar_subquery() if per_hour
               else literal(0))
    return select(_WRITTEN.c.id, STOPS_MAIL.label("suppressed"),
                  _COUNT_AUTOMATIC_TO.scalar_subquery().label("recent"),
                  overall.label("overall"))


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


@dataclass(frozen=True)
class ClaimedLetter:
    """A letter leased to this sender: what delivery and its record need."""

    id: int
    complaint_id: int | None
    kind: str
    to_email: str
    message_id: str
    automatic: bool
    attempts: int
    raw: bytes
    # Its address bounced hard (`store.suppression`): it must not be sent.
    suppressed: bool = False
    # When it was last tried (None: never).
    tried_at: datetime | None = None


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
    row = _letter_row(complaint_id, kind, to_email,
                      mailbox_key(to_email) if to_key is None else to_key, message_id,
                      subject, raw, now, automatic=automatic, about_key=about_key,
                      state=state)
    letter_id = int(_INSERT_LETTER.execute(conn, row).scalar_one())
    if state is not LetterState.QUEUED:
        return letter_id, None
    return letter_id, _queued_event(letter_id, row)


def _letter_row(complaint_id: int | None, kind: LetterKind | str, to_email: str, to_key: str,
                message_id: str, subject: str, raw: bytes, now: datetime, *,
                automatic: bool, about_key: str = "",
                state: LetterState = LetterState.QUEUED) -> dict[str, Any]:
    return {"complaint_id": complaint_id, "kind": str(kind), "to_email": to_email,
            "to_key": to_key, "about_key": about_key, "message_id": message_id,
            "subject": subject, "raw": raw, "automatic": automatic, "state": state.value,
            "attempts": 0, "next_attempt_at": now, "last_error": "", "created_at": now,
            "sent_at": None, "claimed_by": ""}


# The letter `_queue_gated` writes: the columns `_letter_row` fills.
_WRITTEN = (insert(_letter)
            .values({name: bindparam(name, type_=_letter.c[name].type) for name in
                     _letter_row(None, "", "", "", "", "", b"", datetime.min, automatic=True)})
            .returning(_letter.c.id).cte("written"))


def _queued_event(letter_id: int, row: dict[str, Any]) -> Event | None:
    if row["complaint_id"] is None:
        return None
    return Event(row["complaint_id"], EventKind.LETTER_QUEUED, row["created_at"], "system",
                 detail=letter_detail(letter_id, row["kind"], row["to_email"],
                                      row["message_id"], row["automatic"]))


@dataclass(frozen=True)
class Gate:
    """What the limits on an automatic letter read (`letter_limits.refusal`): whether
    its address bounced hard, the automatic letters its mailbox had lately, and those
    to anyone in the last hour (counted up to the hourly cap; 0 without one)."""

    suppressed: bool
    recent: int
    overall: int = 0


def queue_automatic_letter(
    conn: Connection,
    *,
    complaint_id: int | None,
    kind: LetterKind | str,
    to_email: str,
    to_key: str,
    message_id: str,
    subject: str,
    raw: Callable[[], bytes],
    now: datetime,
    day_since: datetime,
    hour_since: datetime,
    per_hour: int,
    refusal: Callable[[Gate], str],
) -> tuple[int | None, Event | None, str]:
    """Queue an automatic letter unless `refusal` finds a reason in its `Gate`: the
    letter's id and `letter_queued` event, or (None, None, the reason).

    The gate counts as `automatic_gate` does (the mailbox's letters since
    `day_since`, serialised per mailbox) and, with `per_hour`, as
    `automatic_letters_overall` since `hour_since`. `raw` composes the letter. On
    PostgreSQL the gate is read by the statement that writes the letter (a round
    trip fewer per letter), and a refused letter is taken back at once.
    """
    _serialise_mailbox(conn, to_key)
    gate_values = {"email": to_email.lower(), "key": to_key, "since": day_since,
                   "hour_since": hour_since}
    if conn.dialect.name != "postgresql":
        suppressed, recent = _GATE.execute(conn, gate_values).one()
        gate = Gate(bool(suppressed), int(recent))
        why = refusal(gate)
        if per_hour and not why:  # counted only when it can still matter
            why = refusal(replace(gate, overall=automatic_letters_overall(conn, hour_since,
                                                                          per_hour)))
        if why:
            return None, None, why
        letter_id, queued = queue_letter(conn, complaint_id=complaint_id, kind=kind,
                                         to_email=to_email, message_id=message_id,
                                         subject=subject, raw=raw(), automatic=True, now=now,
                                         to_key=to_key)
        return letter_id, queued, ""
    row = _letter_row(complaint_id, kind, to_email, to_key, message_id, subject, raw(), now,
                      automatic=True)
    found = conn.execute(_queue_gated(per_hour), row | gate_values).one()
    why = refusal(Gate(bool(found.suppressed), int(found.recent), int(found.overall)))
    if why:
        conn.execute(delete(_letter).where(_letter.c.id == found.id))
        return None, None, why
    return int(found.id), _queued_event(int(found.id), row), ""


def automatic_letters_since(conn: Connection, key: str, since: datetime) -> int:
    """Count automatic letters to the mailbox `key` written since `since`, in any state.

    Letters queued earlier in the caller's transaction count, so the limit
    holds within one fetched batch as well as across batches and processes;
    on PostgreSQL a concurrent transaction counting for the same mailbox waits
    until this one ends.
    """
    _serialise_mailbox(conn, key)
    return int(conn.execute(_COUNT_AUTOMATIC_TO, {"key": key, "since": since}).scalar_one())


def automatic_gate(conn: Connection, key: str, email: str, since: datetime) -> tuple[bool, int]:
    """Whether `email` is suppressed, and `automatic_letters_since(key, since)`, in one
    statement (the count serialised per mailbox the same way)."""
    _serialise_mailbox(conn, key)
    suppressed, recent = _GATE.execute(
        conn, {"email": email.lower(), "key": key, "since": since}).one()
    return bool(suppressed), int(recent)


def mailbox_lock(key: str) -> str:
    """The lock the count of automatic letters to the mailbox `key` holds."""
    return f"triaged:to:{key}"


def _serialise_mailbox(conn: Connection, key: str) -> None:
    # As SQLite's write lock does: two transactions writing to one mailbox take
    # turns, so the second counts the first's letter (the limit holds across
    # mailboxes read at the same time). Released when the caller's transaction ends.
    lock_until_commit(conn, mailbox_lock(key))


def automatic_letters_overall(conn: Connection, since: datetime, at_most: int) -> int:
    """Automatic letters to anyone written since `since`, counted up to `at_most`.

    The count stops at `at_most` so each check reads at most that many index
    entries, however busy the hour was.
    """
    recent = (select(_letter.c.id).where(_letter.c.automatic.is_(True),
                                         _letter.c.created_at >= since)
              .limit(at_most).subquery())
    return int(conn.execute(select(func.count()).select_from(recent)).scalar_one())


def notices_about_since(conn: Connection, to_key: str, about_key: str, since: datetime) -> int:
    """Notices to the staff mailbox `to_key` about `about_key`'s mail since `since`,
    sent or held."""
    return int(conn.execute(_COUNT_NOTICES, {"key": to_key, "about": about_key,
                                             "since": since}).scalar_one())


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


# Whether the letter's address is suppressed, read by the claim itself (one
# statement fewer per letter). SQL's lower() folds ASCII only: a claim of a
# non-ASCII address asks `suppression` as well.
_SUPPRESSED = exists().where(_suppressed.c.email == func.lower(_letter.c.to_email),
                             _suppressed.c.stops_mail).label("suppressed")
_CLAIMED_COLUMNS = (_letter.c.id, _letter.c.complaint_id, _letter.c.kind, _letter.c.to_email,
                    _letter.c.message_id, _letter.c.automatic, _letter.c.attempts, _letter.c.raw,
                    _SUPPRESSED, _letter.c.tried_at)


def claim_letters(
    conn: Connection, *, now: datetime, limit: int, lease: timedelta, holder: str = "",
    gone: Sequence[str] = (), take_over: bool = True,
) -> list[ClaimedLetter]:
    """Lease up to `limit` due letters to `holder`, oldest first.

    Due means queued with `next_attempt_at <= now`, or (with `take_over`)
    `sending` with an expired lease or held by one of `gone` (senders known to
    have died, `store.claims`); those come first, as they have waited longest.
    Each claim is one UPDATE … RETURNING whose subquery reads the (state,
    next_attempt_at) index, so two senders never get the same letter: SQLite
    runs it under the write lock, PostgreSQL skips rows another sender has
    locked (`FOR UPDATE SKIP LOCKED`).
    """
    letters: list[ClaimedLetter] = []
    if take_over:
        letters = take_over_letters(conn, now=now, limit=limit, lease=lease, holder=holder,
                                    gone=gone)
    if len(letters) < limit:
        letters += _claim(conn, "queued", now=now, limit=limit - len(letters), lease=lease,
                          holder=holder)
    letters.sort(key=lambda letter: letter.id)
    return letters


def take_over_letters(
    conn: Connection, *, now: datetime, limit: int, lease: timedelta, holder: str,
    gone: Sequence[str] = (),
) -> list[ClaimedLetter]:
    """Lease to `holder` up to `limit` letters in flight whose sender is one of `gone`
    or whose lease has expired, oldest first."""
    return _claim(conn, "take_over", now=now, limit=limit, lease=lease, holder=holder,
                  gone=list(gone))


def _claim_statement(which: ColumnElement[bool], *, skip_locked: bool, one: bool) -> Any:
    # Built once: a sender claims one letter at a time, and building and caching
    # the statement each time would cost more than running it.
    due = (select(_letter.c.id).where(which)
           .order_by(_letter.c.next_attempt_at, _letter.c.id)
           # The sender's one letter as a constant: a LIMIT bound at run time is
           # planned for many rows, so PostgreSQL planned the claim afresh each time
           # (twice its running time) rather than keep a plan that read the whole outbox.
           .limit(literal_column("1", Integer) if one else bindparam("limit", type_=Integer)))
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    ids = due.scalar_subquery()
    return (update(_letter)
            # `=` for one letter: its row is read by its key, whatever was estimated.
            .where(_letter.c.id == ids if one else _letter.c.id.in_(ids))
            .values(state=LetterState.SENDING.value, next_attempt_at=bindparam("until"),
                    claimed_by=bindparam("holder"))
            .returning(*_CLAIMED_COLUMNS))


_QUEUED = and_(_letter.c.state == LetterState.QUEUED.value,
               _letter.c.next_attempt_at <= bindparam("now"))
_TAKE_OVER = and_(_letter.c.state == LetterState.SENDING.value,
                  or_(_letter.c.next_attempt_at <= bindparam("now"),
                      _letter.c.claimed_by.in_(bindparam("gone", expanding=True))))
# By (which letters, PostgreSQL, one letter only).
_CLAIMS = {(which, skip, one): _claim_statement(condition, skip_locked=skip, one=one)
           for which, condition in (("queued", _QUEUED), ("take_over", _TAKE_OVER))
           for skip in (False, True) for one in (False, True)}


def _claim(
    conn: Connection, kind: str, *, now: datetime, limit: int, lease: timedelta, holder: str,
    gone: list[str] | None = None,
) -> list[ClaimedLetter]:
    if limit <= 0:
        return []
    statement = _CLAIMS[(kind, conn.dialect.name == "postgresql", limit == 1)]
    params: dict[str, Any] = {"now": now, "until": now + lease, "holder": holder}
    if limit != 1:
        params["limit"] = limit
    if kind == "take_over":
        params["gone"] = gone or []
    rows = conn.execute(statement, params).all()
    stopped = suppression.suppressed_among(
        conn, [r.to_email for r in rows if not r.to_email.isascii()])
    return [
        ClaimedLetter(int(r.id), r.complaint_id, r.kind, r.to_email, r.message_id,
                      bool(r.automatic), int(r.attempts), bytes(r.raw),
                      bool(r.suppressed) or r.to_email.lower() in stopped, r.tried_at)
        for r in rows
    ]


def claim_holders(conn: Connection, *, besides: str) -> list[str]:
    """The senders other than `besides` that hold letters in flight."""
    found = conn.execute(
        select(_letter.c.claimed_by).distinct()
        .where(_letter.c.state == LetterState.SENDING.value, _letter.c.claimed_by != besides)
    ).scalars().all()
    return [str(name) for name in found]


def unclaim(conn: Connection, letter_id: int, *, error: str, now: datetime) -> None:
    """Give a claimed letter back, due at once and no attempt counted: it never reached
    the server. `error`: why no connection could be made ("" when the letter was
    simply not handed to one, which is no attempt at all)."""
    values: dict[str, Any] = {"state": LetterState.QUEUED.value, "next_attempt_at": now,
                              "claimed_by": ""}
    if error:
        values |= {"last_error": error, "tried_at": now}
    conn.execute(update(_letter)
                 .where(_letter.c.id == letter_id, _letter.c.state == LetterState.SENDING.value)
                 .values(**values))


def extend_lease(conn: Connection, letter_ids: Sequence[int], *, holder: str,
                 until: datetime) -> None:
    """Keep `holder`'s lease on those of `letter_ids` it still holds until `until` (a
    sender that claimed several ahead is still working through them)."""
    ids = list(letter_ids)
    for start in range(0, len(ids), 500):
        conn.execute(update(_letter)
                     .where(_letter.c.id.in_(ids[start:start + 500]),
                            _letter.c.state == LetterState.SENDING.value,
                            _letter.c.claimed_by == holder)
                     .values(next_attempt_at=until))


def release_backoff(conn: Connection, letter_ids: Sequence[int], *, now: datetime) -> int:
    """Make the queued letters among `letter_ids` due now (the server is back); return how
    many."""
    released, ids = 0, list(letter_ids)
    for start in range(0, len(ids), 500):
        result = conn.execute(update(_letter)
                              .where(_letter.c.id.in_(ids[start:start + 500]),
                                     _letter.c.state == LetterState.QUEUED.value,
                                     _letter.c.next_attempt_at > now)
                              .values(next_attempt_at=now))
        released += result.rowcount
    return released


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
