"""The ladder's steps with a frozen clock: remind once, climb the levels, repeat the top."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triaged.core.calendar import BusinessCalendar
from triaged.core.ladder import Ladder, StepKind
from triaged.domain.durations import parse_duration

ROUND_THE_CLOCK = BusinessCalendar("Europe/Bucharest", "", "", (0, 1, 2, 3, 4, 5, 6), (0, 1440))
OFFICE = BusinessCalendar("Europe/Bucharest", "RO")
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
DUE = T0 + timedelta(minutes=10)


def ladder(levels: tuple[int, ...] = (1, 2), calendar: BusinessCalendar = ROUND_THE_CLOCK
           ) -> Ladder:
    return Ladder.of(calendar, levels, remind_before=parse_duration("2 minutes"),
                     escalate_every=parse_duration("60s"),
                     top_level_every=parse_duration("5 minutes"))


def test_the_first_nudge_is_the_reminder_time() -> None:
    assert ladder().first_nudge(received_at=T0, due_at=DUE) == DUE - timedelta(minutes=2)


def test_a_promise_closer_than_remind_before_gets_no_reminder_only_its_escalation() -> None:
    # A reminder now would reach staff with the new-complaint notice, or before it.
    due = T0 + timedelta(seconds=30)
    assert ladder().first_nudge(received_at=T0, due_at=due) == due
    assert ladder().first_nudge(received_at=T0, due_at=T0 + timedelta(minutes=2)) == \
        T0 + timedelta(minutes=2)


def test_the_reminder_is_in_business_time_before_the_date() -> None:
    # Monday 10:00 Bucharest (07:00 UTC) due; 2 minutes before is 06:58 UTC, and for a
    # "1 business day" reminder it is the Friday before at 10:00.
    office = Ladder.of(OFFICE, (1,), remind_before=parse_duration("1 business day"),
                       escalate_every=parse_duration("1 business day"),
                       top_level_every=parse_duration("1 day"))
    monday = datetime(2026, 6, 15, 7, 0, tzinfo=UTC)
    assert office.first_nudge(received_at=T0, due_at=monday) == datetime(2026, 6, 12, 7, 0,
                                                                         tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "level", "reminded", "kind", "told", "next_nudge", "repeat"),
    [
        # Before the date: a reminder, once; the next look is at the date.
        (DUE - timedelta(minutes=2), 0, False, StepKind.REMIND, 0, DUE, False),
        (DUE - timedelta(minutes=1), 0, True, StepKind.NOBODY, 0, DUE, False),
        # At the date: level 1; a minute later level 2, the top, told again every 5 minutes.
        (DUE, 0, True, StepKind.ESCALATE, 1, DUE + timedelta(seconds=60), False),
        (DUE + timedelta(seconds=60), 1, True, StepKind.ESCALATE, 2,
         DUE + timedelta(minutes=6), False),
        (DUE + timedelta(minutes=6), 2, True, StepKind.ESCALATE, 2,
         DUE + timedelta(minutes=11), True),
        # Missed the reminder (e.g. the daemon was down): straight to level 1.
        (DUE + timedelta(seconds=5), 0, False, StepKind.ESCALATE, 1,
         DUE + timedelta(seconds=65), False),
    ],
)
def test_each_step_of_the_ladder(now: datetime, level: int, reminded: bool, kind: StepKind,
                                 told: int, next_nudge: datetime, repeat: bool) -> None:
    step = ladder().step(now=now, due_at=DUE, level=level, reminded=reminded)
    assert (step.kind, step.level, step.next_nudge, step.repeat) == (kind, told, next_nudge,
                                                                     repeat)


def test_levels_are_the_configured_ones_in_order() -> None:
    gappy = ladder((3, 1, 3))
    assert gappy.step(now=DUE, due_at=DUE, level=0, reminded=True).level == 1
    assert gappy.step(now=DUE, due_at=DUE, level=1, reminded=True).level == 3


def test_without_managers_nobody_is_told_and_the_ladder_looks_again_later() -> None:
    step = ladder(()).step(now=DUE, due_at=DUE, level=0, reminded=True)
    assert (step.kind, step.next_nudge) == (StepKind.NOBODY, DUE + timedelta(seconds=60))
