"""The owner's report's figures as one record, and its JSON (pure).

`ReportFigures` is what the store's queries found, shaped: per-day counts,
categories beside the previous period, promises kept, median and p90 times,
what is overdue now, satisfaction answers and the oldest open complaints.
`as_json` is the `triaged report --json` object.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from triaged.core.report.periods import Period


@dataclass(frozen=True)
class CategoryCount:
    # "" is uncategorised.
    category: str
    count: int
    previous: int

    @property
    def rising(self) -> bool:
        """Named in the letter: at least 3 now, and at least half as many again as before."""
        return self.count >= 3 and 2 * self.count >= 3 * self.previous and \
            self.count > self.previous


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile of a set of seconds; None when the set is empty."""

    median: float | None
    p90: float | None
    count: int = 0


@dataclass(frozen=True)
class OldComplaint:
    reference: str
    received_at: datetime
    state: str
    category: str


@dataclass(frozen=True)
class ReportFigures:
    period: Period
    per_day: tuple[tuple[date, int], ...]
    by_category: tuple[CategoryCount, ...]
    on_time: int
    late: int
    first_reply: Spread
    resolution: Spread
    overdue_by_level: Mapping[int, int]
    settled: int
    reopened: int
    no_answer: int
    oldest_open: tuple[OldComplaint, ...]
    # When the figures were read: "overdue now" and "oldest open" are as of then.
    as_of: datetime

    @property
    def received(self) -> int:
        return sum(n for _, n in self.per_day)

    @property
    def empty(self) -> bool:
        return self.received == 0

    @property
    def promise_share(self) -> float | None:
        total = self.on_time + self.late
        return self.on_time / total if total else None

    @property
    def rising(self) -> tuple[CategoryCount, ...]:
        return tuple(c for c in self.by_category if c.rising)

    def as_json(self) -> dict[str, Any]:
        share = self.promise_share
        return {
            "since": self.period.first.isoformat(),
            "until": self.period.last.isoformat(),
            "received": self.received,
            "per_day": [{"day": d.isoformat(), "count": n} for d, n in self.per_day],
            "by_category": [{"category": c.category, "count": c.count,
                             "previous": c.previous} for c in self.by_category],
            "promises": {"on_time": self.on_time, "late": self.late,
                         "share": None if share is None else round(share, 4)},
            "first_reply_seconds": _spread_json(self.first_reply),
            "resolution_seconds": _spread_json(self.resolution),
            "overdue_by_level": {str(k): v for k, v in sorted(self.overdue_by_level.items())},
            "satisfaction": {"settled": self.settled, "reopened": self.reopened,
                             "no_answer": self.no_answer},
            "oldest_open": [{"reference": o.reference,
                             "received_at": o.received_at.isoformat(),
                             "state": o.state} for o in self.oldest_open],
        }


def _spread_json(spread: Spread) -> dict[str, float | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value)
    return {"median": rounded(spread.median), "p90": rounded(spread.p90)}


def spread(sorted_seconds: Sequence[float]) -> Spread:
    """Median and p90 (nearest rank) of seconds already sorted ascending."""
    n = len(sorted_seconds)
    if not n:
        return Spread(None, None, 0)
    middle = n // 2
    median = (sorted_seconds[middle] if n % 2
              else (sorted_seconds[middle - 1] + sorted_seconds[middle]) / 2)
    p90 = sorted_seconds[max(0, math.ceil(0.9 * n) - 1)]
    return Spread(median, p90, n)


def categories(now: Mapping[str, int], before: Mapping[str, int]) -> tuple[CategoryCount, ...]:
    """Every category seen in either period, the most complained-about first."""
    names = set(now) | {name for name, n in before.items() if n}
    rows = [CategoryCount(name, now.get(name, 0), before.get(name, 0)) for name in names]
    return tuple(sorted(rows, key=lambda c: (-c.count, -c.previous, c.category)))
