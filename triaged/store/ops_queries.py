"""Read-only figures for the operator: metrics scrapes and `triaged health`.

Every query here runs at each Prometheus scrape, so each one reads through an
index and touches only the rows it counts (queued letters, open complaints,
decisions, unanswered robots), never the whole history: `bench/metrics_scrape.py`
measures them on 100 000 complaints. The partial indexes they rely on are made
in migration 0005 and declared in `models.py`; the `WHERE` terms below repeat
the indexes' own predicates word for word, which is what lets SQLite use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, TextClause, case, func, select

from triaged.domain.clock import as_utc
from triaged.domain.records import EventKind, LetterState
from triaged.store.models import (
    DECISION_EVENT_KINDS,
    OPEN_COMPLAINT,
    UNANSWERED_MESSAGE,
    metadata,
)

_complaint = metadata.tables["complaint"]
_cursor = metadata.tables["mailbox_cursor"]
_event = metadata.tables["event"]
_letter = metadata.tables["outbox_letter"]
_message = metadata.tables["message"]
_quarantine = metadata.tables["quarantine"]

# Letters the sender still owes: queued (due or backing off) or claimed right now.
WAITING = (LetterState.QUEUED.value, LetterState.SENDING.value)
# The automatic letters the per-mailbox limit and the overall hourly cap held back
# (`letter_limits` writes these reasons).
RATE_LIMITED = "%rate limit%"
HOURLY_CAPPED = "%hourly cap%"
# Staff notices held back for a digest: still held, or listed in one since.
HELD_NOTICES = (LetterState.HELD.value, LetterState.DIGESTED.value)


@dataclass(frozen=True)
class Outbox:
    """What the sender still owes, and what it gave up on."""

    waiting: int = 0
    # When the oldest waiting letter was queued (letters are due at once when queued).
    oldest_waiting_since: datetime | None = None
    failed: int = 0
    # The latest delivery attempts that failed, counted back to the last success
    # (at most RECENT_ATTEMPTS), and the newest one's error.
    failing: int = 0
    last_error: str = ""


# How far back `outbox` looks for the latest success.
RECENT_ATTEMPTS = 20


@dataclass(frozen=True)
class OpsFigures:
    """One consistent reading of the store for a scrape or a health check."""

    # Last successful poll per mailbox name (None: never, or before this was recorded).
    polled_at: dict[str, datetime | None] = field(default_factory=dict)
    outbox: Outbox = field(default_factory=Outbox)
    open_quarantine: int = 0
    open_by_state: dict[str, int] = field(default_factory=dict)
    overdue_by_level: dict[int, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    unanswered_by_rule: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    hourly_capped: int = 0
    notices_held: int = 0


def read_figures(conn: Connection, now: datetime) -> OpsFigures:
    """Everything a scrape shows, in the caller's (read) transaction."""
    return OpsFigures(
        polled_at=last_polls(conn),
        outbox=outbox(conn),
        open_quarantine=open_quarantine(conn),
        open_by_state=open_by_state(conn),
        overdue_by_level=overdue_by_level(conn, now),
        decisions=decisions(conn),
        unanswered_by_rule=unanswered_by_rule(conn),
        rate_limited=rate_limited(conn),
        hourly_capped=rate_limited(conn, HOURLY_CAPPED),
        notices_held=notices_held(conn),
    )


def last_polls(conn: Connection) -> dict[str, datetime | None]:
    """The latest successful poll of each mailbox that has a cursor (any folder)."""
    found = conn.execute(
        select(_cursor.c.mailbox, func.max(_cursor.c.polled_at)).group_by(_cursor.c.mailbox)
    ).all()
    return {str(name): as_utc(at) if at is not None else None for name, at in found}


def outbox(conn: Connection) -> Outbox:
    """Waiting and failed letters; reads the (state, next_attempt_at) index prefix."""
    counts = {str(state): count for state, count in _counts_by(
        conn, _letter.c.state, _letter.c.state.in_([*WAITING, LetterState.FAILED.value]))}
    oldest = conn.execute(
        select(func.min(_letter.c.created_at)).where(_letter.c.state.in_(WAITING))
    ).scalar()
    # Newest first through the tried_at index: the run of failures since the last success.
    latest = conn.execute(
        select(_letter.c.state, _letter.c.last_error).where(_letter.c.tried_at.is_not(None))
        .order_by(_letter.c.tried_at.desc()).limit(RECENT_ATTEMPTS)
    ).all()
    failing = 0
    for row in latest:
        if row.state == LetterState.SENT.value or not row.last_error:
            break
        failing += 1
    return Outbox(
        waiting=sum(counts.get(state, 0) for state in WAITING),
        oldest_waiting_since=as_utc(oldest) if oldest is not None else None,
        failed=int(counts.get(LetterState.FAILED.value, 0)),
        failing=failing,
        last_error=str(latest[0].last_error) if failing else "",
    )


def open_quarantine(conn: Connection) -> int:
    """Quarantined messages nobody has replayed or discarded yet (a small table)."""
    found = conn.execute(
        select(func.count()).select_from(_quarantine).where(_quarantine.c.state == "open")
    ).scalar()
    return int(found or 0)


def open_by_state(conn: Connection) -> dict[str, int]:
    """Unresolved complaints by state, through the partial index of open complaints."""
    return {str(state): count
            for state, count in _counts_by(conn, _complaint.c.state, OPEN_COMPLAINT)}


def overdue_by_level(conn: Connection, now: datetime) -> dict[int, int]:
    """Unresolved complaints past their promised date, by escalation level.

    The date is counted, not filtered on: with `due_at < now` in the WHERE,
    SQLite walks `ix_complaint_due_at` (every complaint ever promised before
    now) instead of the partial index of open complaints, which covers this.
    """
    level = _complaint.c.escalation_level
    overdue = func.sum(case((_complaint.c.due_at < now, 1), else_=0))
    found = conn.execute(
        select(level, overdue).where(OPEN_COMPLAINT).group_by(level)
    ).all()
    return {int(value): int(count) for value, count in found if count}


def decisions(conn: Connection) -> dict[str, int]:
    """Approval decisions and token replies, by event kind, from the whole event log."""
    return {str(kind): count
            for kind, count in _counts_by(conn, _event.c.kind, DECISION_EVENT_KINDS)}


def unanswered_by_rule(conn: Connection) -> dict[str, int]:
    """Messages recorded as not complaints (never answered), by the rule that decided."""
    return {str(rule): count
            for rule, count in _counts_by(conn, _message.c.rule, UNANSWERED_MESSAGE)}


def rate_limited(conn: Connection, reason: str = RATE_LIMITED) -> int:
    """Automatic letters held back for `reason` (a LIKE pattern): by default the
    per-mailbox limit's."""
    found = conn.execute(
        select(func.count()).select_from(_event)
        .where(DECISION_EVENT_KINDS, _event.c.kind == EventKind.LETTER_SUPPRESSED.value,
               _event.c.detail.like(reason))
    ).scalar()
    return int(found or 0)


def notices_held(conn: Connection) -> int:
    """Staff notices held back for a digest (by the state index)."""
    found = conn.execute(select(func.count()).select_from(_letter)
                         .where(_letter.c.state.in_(HELD_NOTICES))).scalar()
    return int(found or 0)


def _counts_by(
    conn: Connection, column: ColumnElement[Any], *where: ColumnElement[bool] | TextClause
) -> list[tuple[Any, int]]:
    """(value, rows) for each value of `column` among the rows `where` selects."""
    found = conn.execute(select(column, func.count()).where(*where).group_by(column)).all()
    return [(value, int(count)) for value, count in found]
