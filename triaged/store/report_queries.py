"""The owner's report's figures, each one indexed query over a period [since, until).

- received: complaints by `received_at` (`ix_complaint_received_at`);
- promises: complaints whose promised date (`due_at`, indexed) fell in the
  period, kept when an `approved` event came at or before it;
- first reply: seconds from a complaint's arrival to its holding reply's
  delivery, for complaints received in the period;
- resolution: seconds from arrival to each `approved` event in the period
  (`ix_event_report_at`, partial on the few event kinds the report reads);
- satisfaction: customers' answers in the period (a "yes" that closed a
  resolved complaint, a reply that reopened one) and checks closed unanswered;
- overdue (`ops_queries.overdue_by_level`, shared with the metrics) and oldest
  open: the open complaints (`ix_complaint_open`) as of `now`.

Durations are computed by the database (SQLite `julianday`, PostgreSQL
`extract(epoch …)`) and come back as plain numbers, sorted, so that 100 000
of them cost a few milliseconds to read; `bench/report_queries.py` measures it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Float, and_, case, cast, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from triaged.domain.records import EventKind, LetterKind
from triaged.store.models import OPEN_COMPLAINT, REPORT_EVENT_KINDS, metadata

_complaint = metadata.tables["complaint"]
_event = metadata.tables["event"]
_letter = metadata.tables["outbox_letter"]
_run = metadata.tables["report_run"]

OLDEST_OPEN = 5


@dataclass(frozen=True)
class OpenComplaint:
    reference: str
    received_at: datetime
    state: str
    category: str


@dataclass(frozen=True)
class Answers:
    settled: int
    reopened: int
    no_answer: int


def _seconds(conn: Connection, later: ColumnElement[datetime],
             earlier: ColumnElement[datetime]) -> ColumnElement[float]:
    if conn.dialect.name == "sqlite":
        return cast((func.julianday(later) - func.julianday(earlier)) * 86400.0, Float)
    return cast(func.extract("epoch", later - earlier), Float)


def received_between(conn: Connection, since: datetime, until: datetime) -> int:
    return int(conn.execute(
        select(func.count()).select_from(_complaint)
        .where(_complaint.c.received_at >= since, _complaint.c.received_at < until)
    ).scalar_one())


def received_per_day(conn: Connection, bounds: Sequence[datetime]) -> list[int]:
    """Complaints received between each pair of consecutive `bounds` (the days' starts)."""
    return [received_between(conn, start, end)
            for start, end in itertools.pairwise(bounds)]


def by_category(conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
    rows = conn.execute(
        select(_complaint.c.category, func.count())
        .where(_complaint.c.received_at >= since, _complaint.c.received_at < until)
        .group_by(_complaint.c.category)
    ).all()
    return {str(category): int(count) for category, count in rows}


def _first_approval() -> ColumnElement[datetime]:
    return (select(func.min(_event.c.at))
            .where(_event.c.complaint_id == _complaint.c.id,
                   _event.c.kind == EventKind.APPROVED.value)
            .scalar_subquery())


def promises(conn: Connection, since: datetime, until: datetime) -> tuple[int, int]:
    """(kept, late) of the promises that came due in the period."""
    approved = _first_approval()
    kept = func.sum(case((and_(approved.is_not(None), approved <= _complaint.c.due_at), 1),
                         else_=0))
    row = conn.execute(
        select(func.count(), kept)
        .where(_complaint.c.due_at >= since, _complaint.c.due_at < until)
    ).one()
    total, on_time = int(row[0]), int(row[1] or 0)
    return on_time, total - on_time


def first_reply_seconds(conn: Connection, since: datetime, until: datetime) -> list[float]:
    """Sorted seconds from arrival to the holding reply's delivery (received in the period)."""
    seconds = _seconds(conn, _letter.c.sent_at, _complaint.c.received_at)
    rows = conn.execute(
        select(seconds)
        .select_from(_complaint.join(_letter, _letter.c.complaint_id == _complaint.c.id))
        .where(_complaint.c.received_at >= since, _complaint.c.received_at < until,
               _letter.c.kind == LetterKind.HOLDING.value, _letter.c.sent_at.is_not(None))
        .order_by(seconds)
    ).scalars().all()
    return [float(s) for s in rows]


def resolution_seconds(conn: Connection, since: datetime, until: datetime) -> list[float]:
    """Sorted seconds from arrival to each approval (final letter) made in the period."""
    seconds = _seconds(conn, _event.c.at, _complaint.c.received_at)
    rows = conn.execute(
        select(seconds)
        .select_from(_event.join(_complaint, _complaint.c.id == _event.c.complaint_id))
        .where(REPORT_EVENT_KINDS, _event.c.kind == EventKind.APPROVED.value,
               _event.c.at >= since, _event.c.at < until)
        .order_by(seconds)
    ).scalars().all()
    return [float(s) for s in rows]


def satisfaction(conn: Connection, since: datetime, until: datetime) -> Answers:
    """Answers to the satisfaction check in the period, from the state changes they made."""
    to_closed = case((_event.c.detail.like('%"to": "closed"%'), 1), else_=0)
    from_settling = (_event.c.detail.like('%"from": "resolved"%')
                     | _event.c.detail.like('%"from": "closed"%'))
    rows = conn.execute(
        select(_event.c.actor, to_closed, func.count())
        .where(REPORT_EVENT_KINDS, _event.c.kind == EventKind.STATE_CHANGED.value,
               _event.c.at >= since, _event.c.at < until,
               _event.c.actor.in_(("customer", "system")), from_settling)
        .group_by(_event.c.actor, to_closed)
    ).all()
    counts = {(str(actor), bool(closed)): int(n) for actor, closed, n in rows}
    return Answers(settled=counts.get(("customer", True), 0),
                   reopened=counts.get(("customer", False), 0),
                   no_answer=counts.get(("system", True), 0))


def oldest_open(conn: Connection, limit: int = OLDEST_OPEN) -> list[OpenComplaint]:
    rows = conn.execute(
        select(_complaint.c.reference, _complaint.c.received_at, _complaint.c.state,
               _complaint.c.category)
        .where(OPEN_COMPLAINT)
        .order_by(_complaint.c.received_at, _complaint.c.id)
        .limit(limit)
    ).all()
    return [OpenComplaint(str(r.reference), r.received_at, str(r.state), str(r.category))
            for r in rows]


def claim_period(conn: Connection, period: str, since: datetime, until: datetime,
                 now: datetime) -> bool:
    """Claim the scheduled report of `period`; False when it was already claimed.

    The insert is the claim: on a unique conflict another instance (or this one
    before a restart) has it, and nothing is written. Run it in the
    transaction that queues the letter, so a claim never outlives a rollback.
    """
    values = {"period": period, "since": since, "until": until, "created_at": now}
    statement = (sqlite_insert(_run) if conn.dialect.name == "sqlite"
                 else postgresql_insert(_run))
    # RETURNING rather than rowcount: with a RETURNING clause PostgreSQL's driver
    # reports no useful row count, and a skipped insert returns no row on both.
    claimed = conn.execute(statement.values(**values)
                           .on_conflict_do_nothing(index_elements=["period"])
                           .returning(_run.c.id)).first()
    return claimed is not None
