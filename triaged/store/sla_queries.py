"""Read-only SLA figures behind `triaged stats`: promises kept, times taken, topics.

A complaint counts as answered on time when it reached `resolved` (its final
letter approved and sent) at or before its promised date; as late when it got
there after the date, or when its date has passed and it is still open.
Complaints whose date is still ahead and that are unresolved are not counted
either way yet.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
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


@dataclass
class _Tally:
    """The figures, counted one complaint at a time."""

    now: datetime
    resolved: dict[int, datetime]
    on_time: int = 0
    late: int = 0
    levels: Counter[int] = field(default_factory=Counter)  # overdue now, by level
    categories: Counter[str] = field(default_factory=Counter)
    resolution_seconds: list[float] = field(default_factory=list)

    def count(self, cid: int | None, received: datetime, due: datetime, state: str,
              category: str | None, level: int) -> None:
        done_at = self.resolved.get(int(cid)) if cid is not None else None
        still_open_late = state not in _DONE and due < self.now
        if done_at is not None:
            self.resolution_seconds.append((done_at - received).total_seconds())
            if done_at <= due:
                self.on_time += 1
            else:
                self.late += 1
        elif still_open_late:
            self.late += 1
        if still_open_late:
            self.levels[int(level)] += 1
        if category and received >= self.now - WEEK:
            self.categories[category] += 1

    def figures(self) -> dict[str, Any]:
        judged = self.on_time + self.late
        return {
            "answered_on_time": {
                "on_time": self.on_time, "late": self.late,
                "share": round(self.on_time / judged, 4) if judged else None,
            },
            "overdue_now": {"count": sum(self.levels.values()),
                            "by_escalation_level": {str(k): v
                                                    for k, v in sorted(self.levels.items())}},
            "resolution_seconds": self.resolution_seconds,
            "top_categories_this_week": [
                {"category": name, "count": count}
                for name, count in self.categories.most_common(TOP_CATEGORIES)
            ],
        }


def sla_figures(session: Session, now: datetime) -> dict[str, Any]:
    """Promises kept, resolution times, what is overdue now and this week's top categories.

    `resolution_seconds` is a list for `views.seconds_summary`; the rest is
    ready for `stats --json`.
    """
    tally = _Tally(now, resolution_times(session))
    table = Complaint.metadata.tables["complaint"]
    rows = session.execute(
        core_select(table.c.id, table.c.received_at, table.c.due_at, table.c.state,
                    table.c.category, table.c.escalation_level)
    ).all()
    for cid, received_at, due_at, state, category, level in rows:
        tally.count(cid, as_utc(received_at), as_utc(due_at), state, category, level)
    return tally.figures()
