"""The business's week: when it is open, and what "5 business days" from now means.

Everything here takes aware datetimes in any zone and returns aware UTC. Local time
exists only inside: opening hours are wall-clock times in the business's time zone,
converted to instants day by day with `zoneinfo`, so daylight-saving changes move
the instants and never the wall-clock hours.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from triaged.config.countries import country_holidays
from triaged.domain.durations import Duration, Unit

MINUTES_PER_DAY = 24 * 60

# Three years of consecutive closed days cannot be a real business; it is a
# configuration that would otherwise make the search for an opening loop forever.
_MAX_SCAN_DAYS = 3 * 366

_UNIT_LENGTH = {
    Unit.SECONDS: timedelta(seconds=1),
    Unit.MINUTES: timedelta(minutes=1),
    Unit.HOURS: timedelta(hours=1),
}


class BusinessSettings(Protocol):
    """The shape of the `[business]` config section that a calendar needs."""

    @property
    def timezone(self) -> str: ...
    @property
    def country(self) -> str: ...
    @property
    def subdivision(self) -> str: ...
    @property
    def working_days(self) -> tuple[int, ...]: ...
    @property
    def working_hours(self) -> tuple[int, int]: ...
    @property
    def closed_dates(self) -> tuple[date, ...]: ...


# How many local days' opening hours a calendar keeps worked out (a few years' worth).
_PERIODS_KEPT = 2048


@functools.lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    """Public holidays of one year; cached because `holidays` rebuilds them per call."""
    if not country:
        return frozenset()
    return frozenset(country_holidays(country, subdivision, year).keys())


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours, working days, public holidays and closed dates of one business.

    `working_days` uses 0 = Monday .. 6 = Sunday; `working_hours` are minutes since
    local midnight, opening then closing, where closing may be 1440 (24:00). All seven
    days with (0, 1440) is a round-the-clock calendar; public holidays and closed dates
    still close it (`country = ""` means no public holidays).

    Raises ValueError, with a message fit for `triaged check`, for an unknown time
    zone, country or subdivision, a weekday outside 0..6, or hours that do not open
    before they close.
    """

    timezone: str
    country: str = ""
    subdivision: str = ""
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    working_hours: tuple[int, int] = (9 * 60, 17 * 60)
    closed_dates: tuple[date, ...] = ()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _weekdays: frozenset[int] = field(init=False, repr=False, compare=False)
    _closed: frozenset[date] = field(init=False, repr=False, compare=False)
    # Each local day's opening and closing, worked out once: every complaint's
    # promise and reminders walk the same few days.
    _periods: dict[date, tuple[datetime, datetime] | None] = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_periods", {})
        object.__setattr__(self, "_zone", _load_zone(self.timezone))
        object.__setattr__(self, "_weekdays", frozenset(self.working_days))
        object.__setattr__(self, "_closed", frozenset(self.closed_dates))
        _check_days_and_hours(self.working_days, self.working_hours)
        _check_country(self.country, self.subdivision)

    @classmethod
    def from_config(cls, business: BusinessSettings) -> BusinessCalendar:
        """Build the calendar from the `[business]` section (or anything shaped like it)."""
        return cls(
            timezone=business.timezone,
            country=business.country,
            subdivision=business.subdivision,
            working_days=tuple(business.working_days),
            working_hours=(business.working_hours[0], business.working_hours[1]),
            closed_dates=tuple(business.closed_dates),
        )

    # -- questions about days and instants ------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True when `day` (a local date) is a working weekday, not a holiday, not closed."""
        return (
            day.weekday() in self._weekdays
            and day not in self._closed
            and day not in _public_holidays(self.country, self.subdivision, day.year)
        )

    def is_open(self, at: datetime) -> bool:
        """True when the business is open at the instant `at` (opening inclusive, closing not)."""
        at = _require_aware(at)
        period = self._open_period(at.astimezone(self._zone).date())
        return period is not None and period[0] <= at < period[1]

    def next_opening(self, at: datetime) -> datetime:
        """The first instant at or after `at` when the business is open, in UTC.

        Returns `at` itself (as UTC) when the business is open then. Raises
        ValueError when no day in the next ~3 years is open.
        """
        at = _require_aware(at).astimezone(UTC)
        first_day = at.astimezone(self._zone).date()
        for day in self._days_from(first_day):
            period = self._open_period(day)
            if period is not None and at < period[1]:
                return max(at, period[0])
        raise AssertionError("unreachable: _days_from raises first")  # pragma: no cover

    # -- arithmetic -----------------------------------------------------------------

    def add(self, start: datetime, duration: Duration) -> datetime:
        """Return `start` plus `duration`, as an aware UTC datetime.

        Calendar durations: seconds, minutes and hours are elapsed time; days and weeks
        are local wall-clock days, so 2 days from 10:00 local is 10:00 local two dates
        later, whatever daylight saving did in between (a wall-clock time that does not
        exist that day becomes the first real instant after the gap; one that occurs
        twice is its first occurrence). Holidays do not matter to calendar durations.

        Business durations count open time only, and a start outside opening hours
        (night, weekend, holiday, closed date) first moves to the next opening:

        * N business days consume N times the length of a working day in open time,
          measured on the wall clock. A business day therefore ends at the same wall
          time on the N-th next working day (Monday 10:00 + 5 business days = next
          Monday 10:00), and a start at opening ends at closing time (Friday 20:00
          + 1 business day = Monday 09:00 + 8 hours = Monday 17:00 with 09-17 hours).
        * N business hours, minutes or seconds consume that much real open time,
          spilling over closing time into the next opening (Friday 16:00 + 2 business
          hours = Monday 10:00). On a round-the-clock calendar they are elapsed time
          except across holidays and closed dates.

        Raises ValueError when the calendar has no open day within ~3 years.
        """
        start = _require_aware(start).astimezone(UTC)
        if not duration.business:
            return self._add_calendar_time(start, duration)
        if duration.unit is Unit.DAYS:
            return self._add_business_days(start, duration.amount)
        if duration.unit is Unit.WEEKS:
            raise ValueError(f"business time is counted in seconds to days, not weeks: {duration}")
        return self._add_open_time(start, duration.amount * _UNIT_LENGTH[duration.unit])

    def subtract(self, end: datetime, duration: Duration) -> datetime:
        """Return the instant `duration` before `end`, as an aware UTC datetime.

        The mirror of `add`, used for "remind 1 business day before the due date".
        Calendar durations go back in elapsed time (seconds to hours) or local
        wall-clock days. Business durations count open time only, backwards from
        the last open instant at or before `end`:

        * N business hours, minutes or seconds before `end` is the instant from
          which that much open time remains until `end` (Monday 10:00 - 2 business
          hours = Friday 16:00 with 09-17 hours).
        * N business days before `end` is the same wall-clock point of the working
          day N working days earlier (Tuesday 10:00 - 1 business day = Monday 10:00;
          Monday 17:00 - 1 business day = Friday 17:00).

        For a business duration d and a start s inside opening hours,
        `subtract(add(s, d), d) == s`. Raises ValueError when the calendar has no
        open day within ~3 years before `end`.
        """
        end = _require_aware(end).astimezone(UTC)
        if not duration.business:
            if duration.unit in (Unit.DAYS, Unit.WEEKS):
                wall = end.astimezone(self._zone).replace(tzinfo=None)
                return self._wall_to_utc(wall - duration.as_timedelta())
            return end - duration.as_timedelta()
        if duration.unit is Unit.WEEKS:
            raise ValueError(f"business time is counted in seconds to days, not weeks: {duration}")
        if duration.unit is Unit.DAYS:
            return self._subtract_business_days(end, duration.amount)
        return self._subtract_open_time(end, duration.amount * _UNIT_LENGTH[duration.unit])

    def _subtract_business_days(self, end: datetime, count: int) -> datetime:
        for day, _opens, closes in self._open_periods_back(end):
            position = min(end, closes)
            offset = min(self._wall_since_opening(day, position), self._day_length())
            back = day
            if count:
                periods = self._open_periods_back(self._opening_instant(day))
                for _ in range(count):
                    back, _o, _c = next(periods)
            return self._wall_to_utc(self._opening_wall(back) + offset)
        raise AssertionError("unreachable: the generator raises first")  # pragma: no cover

    def _subtract_open_time(self, end: datetime, amount: timedelta) -> datetime:
        for _day, opens, closes in self._open_periods_back(end):
            position = min(end, closes)
            available = position - opens
            if amount <= available:
                return position - amount
            amount -= available
        raise AssertionError("unreachable: the generator raises first")  # pragma: no cover

    def _opening_instant(self, day: date) -> datetime:
        return self._wall_to_utc(self._opening_wall(day))

    def _open_periods_back(self, end: datetime) -> Iterator[tuple[date, datetime, datetime]]:
        """Each open period that starts before `end`, latest first, with its local day.

        Raises ValueError when ~3 years pass without an open day.
        """
        day = end.astimezone(self._zone).date()
        while True:
            for offset in range(_MAX_SCAN_DAYS):
                candidate = day - timedelta(days=offset)
                period = self._open_period(candidate)
                if period is not None and period[0] < end:
                    yield candidate, period[0], period[1]
                    day = candidate - timedelta(days=1)
                    break
            else:
                raise ValueError(
                    f"the business calendar has no open day in the {_MAX_SCAN_DAYS} days "
                    f"before {day.isoformat()}: check working_days, working_hours and "
                    f"closed_dates"
                )

    def _add_calendar_time(self, start: datetime, duration: Duration) -> datetime:
        if duration.unit in (Unit.DAYS, Unit.WEEKS):
            wall = start.astimezone(self._zone).replace(tzinfo=None)
            return self._wall_to_utc(wall + duration.as_timedelta())
        return start + duration.as_timedelta()

    def _add_business_days(self, start: datetime, count: int) -> datetime:
        opening = self.next_opening(start)
        day = opening.astimezone(self._zone).date()
        day_length = self._day_length()
        used = min(self._wall_since_opening(day, opening), day_length)
        whole_days, rest = divmod(used + count * day_length, day_length)
        # Ending exactly at a closing time belongs to that day, not the next opening.
        if rest == timedelta(0) and whole_days > 0:
            whole_days, rest = whole_days - 1, day_length
        end_day = self._working_day_after(day, whole_days)
        return self._wall_to_utc(self._opening_wall(end_day) + rest)

    def _add_open_time(self, start: datetime, amount: timedelta) -> datetime:
        position = self.next_opening(start)
        for _day, opens, closes in self._open_periods_from(position.astimezone(self._zone).date()):
            position = max(position, opens)
            available = closes - position
            if amount <= available:
                return position + amount
            amount -= max(available, timedelta(0))
        raise AssertionError("unreachable: the generator raises first")  # pragma: no cover

    # -- helpers on local days ------------------------------------------------------

    def _day_length(self) -> timedelta:
        opens, closes = self.working_hours
        return timedelta(minutes=closes - opens)

    def _opening_wall(self, day: date) -> datetime:
        return datetime.combine(day, time()) + timedelta(minutes=self.working_hours[0])

    def _wall_since_opening(self, day: date, at: datetime) -> timedelta:
        wall = at.astimezone(self._zone).replace(tzinfo=None, fold=0)
        return max(wall - self._opening_wall(day), timedelta(0))

    def _open_period(self, day: date) -> tuple[datetime, datetime] | None:
        """Opening and closing instants (UTC) of `day`, or None when it is not open at all."""
        try:
            return self._periods[day]
        except KeyError:
            pass
        if len(self._periods) >= _PERIODS_KEPT:
            self._periods.clear()
        period = self._periods[day] = self._work_out_period(day)
        return period

    def _work_out_period(self, day: date) -> tuple[datetime, datetime] | None:
        if not self.is_working_day(day):
            return None
        midnight = datetime.combine(day, time())
        opens, closes = self.working_hours
        start = self._wall_to_utc(midnight + timedelta(minutes=opens))
        end = self._wall_to_utc(midnight + timedelta(minutes=closes))
        # Hours lying wholly inside a daylight-saving gap never happen that day.
        return (start, end) if start < end else None

    def _working_day_after(self, day: date, count: int) -> date:
        """The `count`-th working day after the working day `day` (itself when 0)."""
        periods = self._open_periods_from(day)
        found, _, _ = next(periods)
        for _ in range(count):
            found, _, _ = next(periods)
        return found

    def _open_periods_from(self, first: date) -> Iterator[tuple[date, datetime, datetime]]:
        """Each open day from `first` on with its opening and closing instants (UTC).

        Raises ValueError when ~3 years pass without an open day.
        """
        while True:
            for day in self._days_from(first):
                period = self._open_period(day)
                if period is not None:
                    yield day, period[0], period[1]
                    first = day + timedelta(days=1)
                    break

    def _days_from(self, first: date) -> Iterator[date]:
        """Consecutive dates from `first`; ValueError once ~3 years pass with no opening."""
        for offset in range(_MAX_SCAN_DAYS):
            yield first + timedelta(days=offset)
        raise ValueError(
            f"the business calendar has no open day in the {_MAX_SCAN_DAYS} days from "
            f"{first.isoformat()}: check working_days, working_hours and closed_dates"
        )

    def _wall_to_utc(self, wall: datetime) -> datetime:
        """The instant a local wall-clock time names, in UTC.

        A time that occurs twice (autumn) is its first occurrence; a time that does not
        exist (the spring gap) is the first real instant after the gap.
        """
        wall = wall.replace(fold=0)
        instant = wall.replace(tzinfo=self._zone).astimezone(UTC)
        if instant.astimezone(self._zone).replace(tzinfo=None) == wall:
            return instant
        return _end_of_gap(wall, self._zone)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The transition instant after which the non-existent local `wall` has been skipped.

    With fold=1 the zone reads `wall` with the offset after the change (an instant
    before the transition), with fold=0 with the offset before it (an instant after);
    the transition lies between, so search it to the second.
    """
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) // 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"the business calendar needs an aware datetime, got {value!r}")
    return value


def _load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def _check_days_and_hours(days: tuple[int, ...], hours: tuple[int, int]) -> None:
    if not days:
        raise ValueError("working_days is empty: the business would never be open")
    if any(day not in range(7) for day in days):
        raise ValueError(f"working days are 0 (Monday) to 6 (Sunday), got {days}")
    opens, closes = hours
    if not 0 <= opens < closes <= MINUTES_PER_DAY:
        raise ValueError(
            f"working hours must open before they close, within 00:00-24:00, got {hours}"
        )


def _check_country(country: str, subdivision: str) -> None:
    if not country:
        if subdivision:
            raise ValueError(f"subdivision {subdivision!r} given without a country")
        return
    try:
        country_holidays(country, subdivision)
    except NotImplementedError as error:
        raise ValueError(f"no public holidays known for {country!r}: {error}") from error


def promised_instant(due: datetime, timezone: str) -> datetime:
    """The promise as people write it: `due` rounded up to the next whole hour of the
    business's wall clock (an instant already on the hour stays), in that zone.

    Rounding up never promises earlier than the calendar computed, and every screen
    and letter shows this one instant.
    """
    zone = _load_zone(timezone)
    local = _require_aware(due).astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    if hour == local:
        return local
    # Stepped in UTC: a wall-clock hour may repeat or vanish at a DST change.
    return (hour.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
