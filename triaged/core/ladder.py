"""The reminder and escalation ladder: what is due for one complaint, and when next (pure).

A complaint carries `nudge_at`, the next instant the ladder must look at it,
so the scan reads only what is due (an index range), never every open
complaint. At each nudge the ladder decides one step:

1. Before the promised date, once: remind staff (`remind_before` the date).
2. At the promised date: tell the lowest manager level; then, every
   `escalate_every` after a level was told, the next level up.
3. Once the top level has been told: tell it again every `top_level_every`
   while the complaint stays open.

Levels are the distinct `level` numbers of the configured managers, so a
ladder of levels 1 and 3 climbs 1 → 3. `escalation_level` is 0 until a manager
has been told, then the highest level told.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from triaged.config.records import Config
from triaged.core.calendar import BusinessCalendar
from triaged.domain.durations import Duration


class StepKind(enum.StrEnum):
    REMIND = "remind"
    ESCALATE = "escalate"
    # Overdue, but there is no manager to tell: look again after an interval.
    NOBODY = "nobody"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    level: int
    next_nudge: datetime
    # True when the top level is told again (the daily reminder).
    repeat: bool = False


@dataclass(frozen=True)
class Ladder:
    calendar: BusinessCalendar
    levels: tuple[int, ...]
    remind_before: Duration
    escalate_every: Duration
    top_level_every: Duration

    @classmethod
    def of(cls, calendar: BusinessCalendar, levels: tuple[int, ...], *, remind_before: Duration,
           escalate_every: Duration, top_level_every: Duration) -> Ladder:
        return cls(calendar, tuple(sorted(set(levels))), remind_before, escalate_every,
                   top_level_every)

    def first_nudge(self, *, received_at: datetime, due_at: datetime) -> datetime:
        """When a new complaint is first looked at: its reminder time, after it came.

        A promise closer than `remind_before` gets no reminder: it would reach staff
        with, or before, the new-complaint notice. Its first look is the promised
        date itself, the first escalation.
        """
        remind_at = self.calendar.subtract(due_at, self.remind_before)
        return remind_at if remind_at > received_at else due_at

    def step(self, *, now: datetime, due_at: datetime, level: int, reminded: bool) -> Step:
        """The step due at `now` for a complaint at `level` of the ladder."""
        if now < due_at:
            if not reminded:
                return Step(StepKind.REMIND, level, due_at)
            # Nudged early (the date was moved, or an ACK's interval ran out
            # before it): nothing to do until the promised date.
            return Step(StepKind.NOBODY, level, due_at)
        higher = [candidate for candidate in self.levels if candidate > level]
        if not self.levels:
            return Step(StepKind.NOBODY, level, self.calendar.add(now, self.escalate_every))
        if not higher:
            return Step(StepKind.ESCALATE, level, self.calendar.add(now, self.top_level_every),
                        repeat=True)
        told = higher[0]
        pace = self.top_level_every if told == self.levels[-1] else self.escalate_every
        return Step(StepKind.ESCALATE, told, self.calendar.add(now, pace))

    def after_ack(self, now: datetime) -> datetime:
        """An acknowledged escalation holds the ladder at its level for one interval."""
        return self.calendar.add(now, self.escalate_every)


def ladder_of(config: Config, calendar: BusinessCalendar) -> Ladder:
    """The ladder the config describes: its managers' levels and its [sla] pace."""
    sla = config.sla
    return Ladder.of(calendar, tuple(m.level for m in config.managers),
                     remind_before=sla.remind_before, escalate_every=sla.escalate_every,
                     top_level_every=sla.top_level_every)
