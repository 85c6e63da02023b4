"""Read-only SLA figures behind `triaged stats`: promises kept, times taken, topics.

A complaint counts as answered on time when it reached `resolved` (its final
letter approved and sent) at or before its promised date; as late when it got
there after the date, or when its date has passed and it is still open.
Complaints whose date is still ahead and that are unresolved are not counted
either way yet.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from triaged.domain.clock import as_utc
from triaged.domain.records import ComplaintState, EventKind
from triaged.store.models import Complaint, Event

_DONE = (ComplaintState.RESOLVED.value, ComplaintState.CLOSED.value)
# Event details are JSON written with sorted keys and the default separators.
_TO_RESOLVED = '%"to": "resolved"%'
TOP_CATEGORIES = 5
WEEK = timedelta(days=7)


def resolution_times(session: Session) -> dict[int, datetime]:
    """When each complaint first reached `resolved`, by complaint id."""
    found = session.exec(
        select(Event.complaint_id, func.min(Event.at))
        .where(Event.kind == EventKind.STATE_CHANGED.value,
               col(Event.detail).like(_TO_RESOLVED),
               col(Event.complaint_id).is_not(None))
        .group_by(col(Event.complaint_id))
    ).all()
    return {int(cid): as_utc(at) for cid, at in found if cid is not None and at is not None}


def sla_figures(session: Session, now: datetime) -> dict[str, Any]:
    """Promises kept, resolution times, what is overdue now and this week's top categories.

    `resolution_seconds` is a list for `views.seconds_summary`; the rest is
    ready for `stats --json`.
    """
    resolved = resolution_times(session)
    on_time = late = overdue = 0
    levels: Counter[int] = Counter()
    categories: Counter[str] = Counter()
    resolution_seconds: list[float] = []
    week_start = now - WEEK
    table = Complaint.metadata.tables["complaint"]
    rows = session.execute(
        core_select(table.c.id, table.c.received_at, table.c.due_at, table.c.state,
                    table.c.category, table.c.escalation_level)
    ).all()
    for cid, received_at, due_at, state, category, level in rows:
        received, due = as_utc(received_at), as_utc(due_at)
        done_at = resolved.get(int(cid)) if cid is not None else None
        if done_at is not None:
            resolution_seconds.append((done_at - received).total_seconds())
            if done_at <= due:
                on_time += 1
            else:
                late += 1
        elif state not in _DONE and due < now:
            late += 1
        if state not in _DONE and due < now:
            overdue += 1
            levels[int(level)] += 1
        if category and received >= week_start:
            categories[category] += 1
    judged = on_time + late
    return {
        "answered_on_time": {
            "on_time": on_time, "late": late,
            "share": round(on_time / judged, 4) if judged else None,
        },
        "overdue_now": {"count": overdue,
                        "by_escalation_level": {str(k): v for k, v in sorted(levels.items())}},
        "resolution_seconds": resolution_seconds,
        "top_categories_this_week": [
            {"category": name, "count": count}
            for name, count in categories.most_common(TOP_CATEGORIES)
        ],
    }
