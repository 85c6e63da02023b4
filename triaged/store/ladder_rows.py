"""The escalation scan's reads and writes in SQLAlchemy Core (≤ 200 ms for 100 000 open).

The scan reads only complaints whose `nudge_at` has come (a range on its
index), so its cost follows what is due, not how many complaints are open.
Each step is claimed with a conditional update on the `nudge_at` it was read
with, checking the row count: two instances scanning at once never both tell a
manager about the same step. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, select, update

from triaged.domain.clock import as_utc
from triaged.domain.records import ComplaintState, LetterKind, LetterState, Outcome
from triaged.store.models import metadata

_complaint = metadata.tables["complaint"]
_message = metadata.tables["message"]
_letter = metadata.tables["outbox_letter"]

DONE_STATES = (ComplaintState.RESOLVED.value, ComplaintState.CLOSED.value)

_DUE = (
    select(
        _complaint.c.id, _complaint.c.reference, _complaint.c.state,
        _complaint.c.customer_email, _complaint.c.customer_name, _complaint.c.subject,
        _complaint.c.received_at, _complaint.c.due_at, _complaint.c.escalation_level,
        _complaint.c.reminded, _complaint.c.nudge_at, _complaint.c.category,
        _complaint.c.priority,
    )
    .where(_complaint.c.nudge_at <= bindparam("now"))
    .order_by(_complaint.c.nudge_at, _complaint.c.id)
)
_ADVANCE = (
    update(_complaint)
    .where(_complaint.c.id == bindparam("cid"), _complaint.c.nudge_at == bindparam("old"))
    .values(nudge_at=bindparam("next"), escalation_level=bindparam("level"),
            reminded=bindparam("reminded"), updated_at=bindparam("now"))
)
_MOVE_PROMISE = (
    update(_complaint)
    .where(_complaint.c.id == bindparam("cid"))
    .values(due_at=bindparam("due"), nudge_at=bindparam("next"), reminded=False,
            updated_at=bindparam("now"))
)
_PROMISE = select(
    _complaint.c.id, _complaint.c.reference, _complaint.c.state, _complaint.c.mailbox,
    _complaint.c.customer_email, _complaint.c.customer_name, _complaint.c.subject,
    _complaint.c.language, _complaint.c.due_at, _complaint.c.escalation_level,
    _complaint.c.nudge_at,
).where(_complaint.c.id == bindparam("cid"))
_SET_NUDGE = (
    update(_complaint)
    .where(_complaint.c.id == bindparam("cid"))
    .values(nudge_at=bindparam("next"), updated_at=bindparam("now"))
)


@dataclass(frozen=True)
class DueComplaint:
    """A complaint whose nudge has come, with what its letters name."""

    id: int
    reference: str
    state: str
    customer_email: str
    customer_name: str
    subject: str
    received_at: datetime
    due_at: datetime
    escalation_level: int
    reminded: bool
    nudge_at: datetime
    category: str
    priority: str


@dataclass(frozen=True)
class Known:
    """What is known so far about a complaint, for the manager's escalation letter."""

    first_text: str = ""
    follow_ups: int = 0
    letters_sent: int = 0


def due_complaints(conn: Connection, now: datetime) -> list[DueComplaint]:
    """Every complaint whose `nudge_at` is at or before `now`, earliest first."""
    return [
        DueComplaint(
            id=int(row.id), reference=row.reference, state=row.state,
            customer_email=row.customer_email, customer_name=row.customer_name,
            subject=row.subject, received_at=as_utc(row.received_at),
            due_at=as_utc(row.due_at), escalation_level=int(row.escalation_level),
            reminded=bool(row.reminded), nudge_at=as_utc(row.nudge_at),
            category=row.category, priority=row.priority,
        )
        for row in conn.execute(_DUE, {"now": now})
    ]


def advance(
    conn: Connection, complaint: DueComplaint, *, next_nudge: datetime | None, level: int,
    reminded: bool, now: datetime,
) -> bool:
    """Record a step taken; False when another scan took this step first."""
    moved = conn.execute(
        _ADVANCE,
        {"cid": complaint.id, "old": complaint.nudge_at, "next": next_nudge, "level": level,
         "reminded": reminded, "now": now},
    ).rowcount
    return bool(moved == 1)


def set_nudge(conn: Connection, complaint_id: int, next_nudge: datetime | None,
              now: datetime) -> None:
    """Have the ladder look at a complaint at `next_nudge` (None: never, until set again)."""
    conn.execute(_SET_NUDGE, {"cid": complaint_id, "next": next_nudge, "now": now})


def notice_not_sent(conn: Connection, ids: Iterable[int]) -> set[int]:
    """Those of the complaints whose new-complaint notice has not gone out yet
    (queued, being sent, or held for the staff digest)."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    waiting = (LetterState.QUEUED.value, LetterState.SENDING.value, LetterState.HELD.value)
    return {
        int(cid) for (cid,) in conn.execute(
            select(_letter.c.complaint_id).distinct()
            .where(_letter.c.complaint_id.in_(wanted),
                   _letter.c.kind == LetterKind.NEW_COMPLAINT.value,
                   _letter.c.state.in_(waiting))
        )
    }


def known_so_far(conn: Connection, ids: Iterable[int]) -> dict[int, Known]:
    """The opening text, number of follow-ups and letters sent, per complaint id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    texts = _first_texts(conn, wanted)
    follow_ups = _counts(conn, _message.c.complaint_id, wanted,
                         _message.c.outcome == Outcome.FOLLOW_UP.value)
    sent = _counts(conn, _letter.c.complaint_id, wanted,
                   _letter.c.state == LetterState.SENT.value)
    return {
        cid: Known(texts.get(cid, ""), follow_ups.get(cid, 0), sent.get(cid, 0))
        for cid in wanted
    }


def _first_texts(conn: Connection, wanted: list[int]) -> dict[int, str]:
    """The text of the message that opened each complaint."""
    first_ids = (
        select(func.min(_message.c.id).label("id"))
        .where(_message.c.complaint_id.in_(wanted),
               _message.c.outcome == Outcome.COMPLAINT.value)
        .group_by(_message.c.complaint_id)
        .subquery()
    )
    return {
        int(row.complaint_id): row.text
        for row in conn.execute(
            select(_message.c.complaint_id, _message.c.text)
            .join(first_ids, _message.c.id == first_ids.c.id)
        )
    }


def _counts(conn: Connection, column: ColumnElement[Any], wanted: list[int],
            condition: ColumnElement[bool]) -> dict[int, int]:
    """How many rows meeting `condition` each complaint id in `wanted` has in `column`."""
    return {
        int(cid): int(count)
        for cid, count in conn.execute(
            select(column, func.count())
            .where(and_(column.in_(wanted), condition))
            .group_by(column)
        )
    }


@dataclass(frozen=True)
class PromiseRow:
    """A complaint as ACK and EXTEND need it."""

    id: int
    reference: str
    state: str
    mailbox: str
    customer_email: str
    customer_name: str
    subject: str
    language: str
    due_at: datetime
    escalation_level: int
    nudge_at: datetime | None


def promise_row(conn: Connection, complaint_id: int) -> PromiseRow | None:
    row = conn.execute(_PROMISE, {"cid": complaint_id}).first()
    if row is None:
        return None
    return PromiseRow(
        id=int(row.id), reference=row.reference, state=row.state, mailbox=row.mailbox,
        customer_email=row.customer_email, customer_name=row.customer_name,
        subject=row.subject, language=row.language, due_at=as_utc(row.due_at),
        escalation_level=int(row.escalation_level),
        nudge_at=as_utc(row.nudge_at) if row.nudge_at is not None else None,
    )


def move_promise(conn: Connection, complaint_id: int, *, due_at: datetime,
                 nudge_at: datetime, now: datetime) -> None:
    """A new promised date: the ladder starts over from its reminder (levels told stay)."""
    conn.execute(_MOVE_PROMISE, {"cid": complaint_id, "due": due_at, "next": nudge_at,
                                 "now": now})


def thread_ids(conn: Connection, complaint_id: int) -> list[str]:
    """The customer's opening Message-ID and our letters to them, oldest first.

    A letter to the customer that names these in References threads into the
    conversation they already have with us.
    """
    opening = conn.execute(
        select(_message.c.message_id)
        .where(_message.c.complaint_id == complaint_id,
               _message.c.outcome == Outcome.COMPLAINT.value, _message.c.message_id != "")
        .order_by(_message.c.id).limit(1)
    ).scalar()
    ours = conn.execute(
        select(_letter.c.message_id)
        .where(_letter.c.complaint_id == complaint_id,
               _letter.c.kind.in_(("holding", "extension", "final")))
        .order_by(_letter.c.id)
    ).scalars().all()
    return [*([opening] if opening else []), *ours]
