"""The counts behind the limits on automatic letters (`letter_limits`), and an automatic
letter queued within them.

Every automatic letter counts against the limits, whatever became of it: a
letter that failed or bounced was still written (a forged bounce must not
make room for another). None is excluded, not even a letter `fail_waiting_to`
stopped before it left: its address bounced hard and gets nothing more anyway.
Nothing here commits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
)

from triaged.domain.events import Event
from triaged.domain.records import LetterKind
from triaged.store.models import metadata
from triaged.store.outbox_rows import letter_row, queue_letter, queued_event
from triaged.store.ownership import lock_until_commit
from triaged.store.prepared import Prepared
from triaged.store.suppression import STOPS_MAIL

_letter = metadata.tables["outbox_letter"]

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

# The letter `_queue_gated` writes: the columns `letter_row` fills.
_WRITTEN = (insert(_letter)
            .values({name: bindparam(name, type_=_letter.c[name].type) for name in
                     letter_row(None, "", "", "", "", "", b"", datetime.min, automatic=True)})
            .returning(_letter.c.id).cte("written"))


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
    row = letter_row(complaint_id, kind, to_email, to_key, message_id, subject, raw(), now,
                      automatic=True)
    found = conn.execute(_queue_gated(per_hour), row | gate_values).one()
    why = refusal(Gate(bool(found.suppressed), int(found.recent), int(found.overall)))
    if why:
        conn.execute(delete(_letter).where(_letter.c.id == found.id))
        return None, None, why
    return int(found.id), queued_event(int(found.id), row), ""


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
