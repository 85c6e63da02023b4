"""`[report]`: who receives the owner's report, and when it is sent.

`to` empty (or the table absent) means no scheduled letter; `every` "" means
the report exists only on demand (`triaged report`). For "week" the letter
goes on `day` at `at` business time, about the seven days before that day;
for "month" on the first day of the month at `at`, about the month before.
"""

from __future__ import annotations

from dataclasses import dataclass

from triaged.config import checks
from triaged.config.reader import Table

EVERIES = ("week", "month", "")


@dataclass(frozen=True)
class ReportConfig:
    to: tuple[str, ...] = ()
    every: str = "week"
    # 0 = Monday; used when `every` is "week".
    day: int = 0
    # Minutes since midnight, business time.
    at: int = 8 * 60

    @property
    def scheduled(self) -> bool:
        return bool(self.to) and bool(self.every)


def read_report(t: Table) -> ReportConfig:
    """Build `[report]`, recording every problem under its key path."""
    config = ReportConfig(
        to=t.each("to", checks.address),
        every=t.choice("every", "week", EVERIES),
        day=t.checked("day", 0, _day),
        at=t.checked("at", 8 * 60, _at),
    )
    t.finish()
    return config


def _day(text: str) -> int:
    days = checks.weekdays([text])
    return days[0]


def _at(text: str) -> int:
    return checks.working_hours([text, "24:00"])[0]
