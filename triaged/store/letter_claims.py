"""Claiming letters: the sender leases due letters in its own name, and gives back
those it did not send.

The sender claims due letters as a lease in its own name (`claimed_by`, see
`store.claims`), so no two senders get the same letter, and a letter whose
sender died is claimed again as soon as that sender is known to be gone, or
once the lease runs out. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)

from triaged.domain.records import LetterState
from triaged.store import suppression
from triaged.store.models import metadata

_letter = metadata.tables["outbox_letter"]
_suppressed = metadata.tables["suppressed_address"]


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
