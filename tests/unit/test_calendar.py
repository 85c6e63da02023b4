"""The business calendar: promised dates a customer and a manager would agree with.

Expected values are worked out by hand. Facts used (2026):
Europe/Bucharest is UTC+2 in winter and UTC+3 from Sun 29 March 03:00 (clocks jump to
04:00) until Sun 25 October 04:00 (clocks fall back to 03:00).
Europe/Berlin is UTC+1 in winter and UTC+2 between the same two Sundays.
Weekdays: Mon 5 Jan, Tue 6 Jan, Fri 27 Mar, Thu 30 Apr, Fri 1 May, Mon 8 Jun,
Fri 12 Jun, Fri 23 Oct, Fri 27 Nov, Mon 30 Nov, Tue 1 Dec.
Public holidays: RO 30 Nov (St Andrew) and 1 Dec (National Day); DE 1 May (Labour
Day, nationwide); DE-BY 6 Jan (Epiphany), which Berlin (DE-BE) does not keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from triaged.core.calendar import BusinessCalendar
from triaged.domain.durations import parse_duration

BUCHAREST = "Europe/Bucharest"
BERLIN = "Europe/Berlin"
ALL_WEEK = (0, 1, 2, 3, 4, 5, 6)

RO = BusinessCalendar(BUCHAREST, "RO")
RO_NO_HOLIDAYS = BusinessCalendar(BUCHAREST, "")
DE_BY = BusinessCalendar(BERLIN, "DE", "BY")
DE_BE = BusinessCalendar(BERLIN, "DE", "BE")
RO_ROUND_THE_CLOCK = BusinessCalendar(BUCHAREST, "RO", "", ALL_WEEK, (0, 1440))
RO_CLOSED_THU_FRI = BusinessCalendar(
    BUCHAREST, "RO", closed_dates=(date(2026, 6, 11), date(2026, 6, 12))
)
# Opens at 03:30, inside the spring gap and the autumn repeat of Bucharest's clocks.
RO_EARLY = BusinessCalendar(BUCHAREST, "", "", ALL_WEEK, (3 * 60 + 30, 12 * 60))


def local(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
          second: int = 0) -> datetime:
    """A wall-clock time in `zone` (a repeated time means its first occurrence)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


ADD_CASES = [
    # -- business days on a 09:00-17:00 Monday-Friday week ---------------------------
    pytest.param(RO, local(BUCHAREST, 2026, 6, 8, 10), "5 business days",
                 utc(2026, 6, 15, 7), id="monday-10h-plus-5-business-days-is-next-monday-10h"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 12, 20), "1 business day",
                 utc(2026, 6, 15, 14), id="friday-evening-plus-1-business-day-is-monday-17h"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 13, 11), "1 business day",
                 utc(2026, 6, 15, 14), id="saturday-arrival-counts-from-monday-opening"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 9, 2, 30), "1 business day",
                 utc(2026, 6, 9, 14), id="night-arrival-counts-from-morning-opening"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 8, 17), "1 business day",
                 utc(2026, 6, 9, 14), id="arrival-at-closing-time-counts-from-next-opening"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 12, 20), "0 business days",
                 utc(2026, 6, 15, 6), id="zero-business-days-is-the-next-opening"),
    # -- business hours, minutes, seconds ---------------------------------------------
    pytest.param(RO, local(BUCHAREST, 2026, 6, 9, 2, 30), "4 business hours",
                 utc(2026, 6, 9, 10), id="night-arrival-plus-4-business-hours-is-13h"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 12, 16), "2 business hours",
                 utc(2026, 6, 15, 7), id="business-hours-spill-over-the-weekend"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 12, 16), "1 business hour",
                 utc(2026, 6, 12, 14), id="ending-exactly-at-closing-stays-that-day"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 8, 16, 59), "90 business seconds",
                 utc(2026, 6, 9, 6, 0, 30), id="business-seconds-spill-overnight"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 8, 9), "16 business hours",
                 utc(2026, 6, 9, 14), id="16-business-hours-are-two-full-days"),
    # -- national holidays ------------------------------------------------------------
    pytest.param(RO, local(BUCHAREST, 2026, 11, 27, 16), "1 business day",
                 utc(2026, 12, 2, 14), id="ro-st-andrew-and-national-day-are-skipped"),
    pytest.param(RO_NO_HOLIDAYS, local(BUCHAREST, 2026, 11, 27, 16), "1 business day",
                 utc(2026, 11, 30, 14), id="country-empty-means-no-holidays"),
    pytest.param(RO, local(BUCHAREST, 2026, 12, 1, 10), "1 business day",
                 utc(2026, 12, 2, 15), id="arrival-on-ro-national-day-counts-from-next-day"),
    pytest.param(RO, local(BUCHAREST, 2026, 12, 1, 10), "3 business hours",
                 utc(2026, 12, 2, 10), id="business-hours-from-a-holiday"),
    pytest.param(DE_BE, local(BERLIN, 2026, 4, 30, 15), "1 business day",
                 utc(2026, 5, 4, 13), id="de-labour-day-then-weekend-are-skipped"),
    # -- subdivision holidays ---------------------------------------------------------
    pytest.param(DE_BY, local(BERLIN, 2026, 1, 5, 12), "1 business day",
                 utc(2026, 1, 7, 11), id="epiphany-is-a-holiday-in-bavaria"),
    pytest.param(DE_BE, local(BERLIN, 2026, 1, 5, 12), "1 business day",
                 utc(2026, 1, 6, 11), id="epiphany-is-a-working-day-in-berlin"),
    # -- closed dates -----------------------------------------------------------------
    pytest.param(RO_CLOSED_THU_FRI, local(BUCHAREST, 2026, 6, 10, 15), "1 business day",
                 utc(2026, 6, 15, 12), id="closed-dates-are-skipped"),
    # -- daylight saving, spring (Bucharest 29 March) ---------------------------------
    pytest.param(RO, local(BUCHAREST, 2026, 3, 27, 10), "1 business day",
                 utc(2026, 3, 30, 7), id="spring-business-day-keeps-10h-local"),
    pytest.param(RO, local(BUCHAREST, 2026, 3, 27, 16), "2 business hours",
                 utc(2026, 3, 30, 7), id="spring-business-hours-land-on-10h-local"),
    pytest.param(RO, local(BUCHAREST, 2026, 3, 28, 10), "2 days",
                 utc(2026, 3, 30, 7), id="spring-calendar-days-keep-10h-local"),
    pytest.param(RO, local(BUCHAREST, 2026, 3, 28, 10), "48 hours",
                 utc(2026, 3, 30, 8), id="spring-hours-are-elapsed-time"),
    pytest.param(RO, local(BUCHAREST, 2026, 3, 28, 3, 30), "1 day",
                 utc(2026, 3, 29, 1), id="a-day-landing-in-the-gap-takes-the-end-of-the-gap"),
    # -- daylight saving, autumn (Bucharest 25 October) -------------------------------
    pytest.param(RO, local(BUCHAREST, 2026, 10, 23, 10), "1 business day",
                 utc(2026, 10, 26, 8), id="autumn-business-day-keeps-10h-local"),
    pytest.param(RO, local(BUCHAREST, 2026, 10, 24, 10), "2 days",
                 utc(2026, 10, 26, 8), id="autumn-calendar-days-keep-10h-local"),
    pytest.param(RO, local(BUCHAREST, 2026, 10, 24, 10), "24 hours",
                 utc(2026, 10, 25, 7), id="autumn-hours-are-elapsed-time"),
    pytest.param(RO, local(BUCHAREST, 2026, 10, 24, 3, 30), "1 day",
                 utc(2026, 10, 25, 0, 30), id="a-day-landing-on-a-repeated-time-takes-the-first"),
    # -- calendar versus business time ------------------------------------------------
    pytest.param(RO, local(BUCHAREST, 2026, 6, 12, 10), "2 days",
                 utc(2026, 6, 14, 7), id="calendar-days-count-the-weekend"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 12, 10), "2 business days",
                 utc(2026, 6, 16, 7), id="business-days-skip-the-weekend"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 12, 20), "1 week",
                 utc(2026, 6, 19, 17), id="a-week-is-seven-local-days-from-any-hour"),
    pytest.param(RO, local(BUCHAREST, 2026, 12, 1, 10), "15 minutes",
                 utc(2026, 12, 1, 8, 15), id="calendar-minutes-ignore-holidays"),
    # -- round the clock --------------------------------------------------------------
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 6, 10, 23, 59, 30), "90s",
                 utc(2026, 6, 10, 21, 1), id="round-the-clock-seconds-cross-midnight"),
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 6, 10, 23, 59, 30),
                 "90 business seconds", utc(2026, 6, 10, 21, 1),
                 id="round-the-clock-business-seconds-cross-midnight"),
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 3, 29, 2, 30),
                 "3600 business seconds", utc(2026, 3, 29, 1, 30),
                 id="round-the-clock-business-seconds-are-real-across-the-spring-gap"),
    pytest.param(RO_ROUND_THE_CLOCK, utc(2026, 10, 25, 0, 30), "2 business hours",
                 utc(2026, 10, 25, 2, 30),
                 id="round-the-clock-business-hours-are-real-across-the-autumn-repeat"),
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 3, 28, 10), "1 business day",
                 utc(2026, 3, 29, 7), id="round-the-clock-business-day-keeps-local-hour"),
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 11, 29, 23), "2 business hours",
                 utc(2026, 12, 1, 23), id="round-the-clock-still-closes-on-holidays"),
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 11, 29, 23, 59, 59),
                 "1 business second", utc(2026, 11, 29, 22),
                 id="round-the-clock-ends-exactly-at-midnight-before-a-holiday"),
    # -- opening hours at a daylight-saving change ------------------------------------
    pytest.param(RO_EARLY, local(BUCHAREST, 2026, 3, 28, 12), "1 business hour",
                 utc(2026, 3, 29, 2), id="opening-in-the-spring-gap-is-the-end-of-the-gap"),
]


@pytest.mark.parametrize(("calendar", "start", "duration", "expected"), ADD_CASES)
def test_add_gives_the_promised_instant_in_utc(
    calendar: BusinessCalendar, start: datetime, duration: str, expected: datetime
) -> None:
    result = calendar.add(start, parse_duration(duration))
    assert result == expected
    assert result.tzinfo is UTC


def test_the_start_may_be_in_any_time_zone() -> None:
    # Friday 12 June 20:00 in Bucharest is 13:00 in New York (UTC-4 in summer).
    start = datetime(2026, 6, 12, 13, tzinfo=ZoneInfo("America/New_York"))
    assert RO.add(start, parse_duration("1 business day")) == utc(2026, 6, 15, 14)


@pytest.mark.parametrize(
    ("calendar", "at", "expected"),
    [
        (RO, local(BUCHAREST, 2026, 6, 8, 9), True),
        (RO, local(BUCHAREST, 2026, 6, 8, 16, 59, 59), True),
        (RO, local(BUCHAREST, 2026, 6, 8, 17), False),
        (RO, local(BUCHAREST, 2026, 6, 8, 8, 59, 59), False),
        (RO, local(BUCHAREST, 2026, 6, 13, 12), False),  # Saturday
        (RO, local(BUCHAREST, 2026, 12, 1, 12), False),  # National Day
        (RO_NO_HOLIDAYS, local(BUCHAREST, 2026, 12, 1, 12), True),
        (DE_BY, local(BERLIN, 2026, 1, 6, 12), False),
        (DE_BE, local(BERLIN, 2026, 1, 6, 12), True),
        (RO_CLOSED_THU_FRI, local(BUCHAREST, 2026, 6, 11, 12), False),
        (RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 6, 13, 3), True),
        (RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 12, 1, 12), False),
        (RO_ROUND_THE_CLOCK, utc(2026, 12, 1, 22), True),  # 2 Dec 00:00 local
        (RO_EARLY, utc(2026, 3, 29, 1), True),  # 04:00 local, the first real instant
        (RO_EARLY, utc(2026, 3, 29, 0, 59, 59), False),  # 02:59:59 local
        (RO_EARLY, utc(2026, 10, 25, 0, 30), True),  # the first 03:30 of the night
        (RO_EARLY, utc(2026, 10, 25, 0, 29, 59), False),
    ],
)
def test_is_open(calendar: BusinessCalendar, at: datetime, expected: bool) -> None:
    assert calendar.is_open(at) is expected


@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        (RO, date(2026, 6, 8), True),
        (RO, date(2026, 6, 13), False),
        (RO, date(2026, 6, 14), False),
        (RO, date(2026, 11, 30), False),
        (RO, date(2026, 12, 1), False),
        (RO_NO_HOLIDAYS, date(2026, 12, 1), True),
        (DE_BE, date(2026, 5, 1), False),
        (DE_BY, date(2026, 1, 6), False),
        (DE_BE, date(2026, 1, 6), True),
        (RO_CLOSED_THU_FRI, date(2026, 6, 11), False),
        (RO_CLOSED_THU_FRI, date(2027, 6, 11), True),  # closed dates are dates, not yearly
        (RO_ROUND_THE_CLOCK, date(2026, 6, 13), True),
        (RO_ROUND_THE_CLOCK, date(2026, 12, 1), False),
    ],
)
def test_is_working_day(calendar: BusinessCalendar, day: date, expected: bool) -> None:
    assert calendar.is_working_day(day) is expected


@pytest.mark.parametrize(
    ("calendar", "at", "expected"),
    [
        (RO, local(BUCHAREST, 2026, 6, 8, 11), utc(2026, 6, 8, 8)),  # open: itself
        (RO, local(BUCHAREST, 2026, 6, 8, 7), utc(2026, 6, 8, 6)),
        (RO, local(BUCHAREST, 2026, 6, 12, 17), utc(2026, 6, 15, 6)),
        (RO, local(BUCHAREST, 2026, 11, 27, 18), utc(2026, 12, 2, 7)),
        (RO_EARLY, utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        (RO_EARLY, utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30)),
    ],
)
def test_next_opening(calendar: BusinessCalendar, at: datetime, expected: datetime) -> None:
    result = calendar.next_opening(at)
    assert result == expected
    assert result.tzinfo is UTC


def _every_day(first: date, last: date) -> tuple[date, ...]:
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


def test_a_calendar_that_never_opens_raises_instead_of_looping() -> None:
    never = BusinessCalendar(
        BUCHAREST, "", "", ALL_WEEK, (0, 1440), _every_day(date(2026, 1, 1), date(2029, 12, 31))
    )
    start = utc(2026, 1, 1, 12)
    with pytest.raises(ValueError, match="no open day"):
        never.add(start, parse_duration("1 business day"))
    with pytest.raises(ValueError, match="no open day"):
        never.add(start, parse_duration("1 business hour"))
    with pytest.raises(ValueError, match="no open day"):
        never.next_opening(start)


def test_a_long_closure_is_not_mistaken_for_a_calendar_that_never_opens() -> None:
    closed_2026 = BusinessCalendar(
        BUCHAREST, "", "", ALL_WEEK, (0, 1440), _every_day(date(2026, 1, 1), date(2026, 12, 31))
    )
    # 1 January 2027 00:00 in Bucharest (UTC+2).
    assert closed_2026.next_opening(utc(2026, 1, 1, 12)) == utc(2026, 12, 31, 22)


@dataclass(frozen=True)
class _Business:
    timezone: str = BERLIN
    country: str = "DE"
    subdivision: str = "BY"
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    working_hours: tuple[int, int] = (8 * 60, 16 * 60)
    closed_dates: tuple[date, ...] = ()


def test_from_config_uses_every_setting() -> None:
    calendar = BusinessCalendar.from_config(_Business())
    # Monday 5 Jan 15:00 Berlin, 1 hour before closing; Epiphany closes Tuesday in Bavaria;
    # Wednesday opens 08:00, so the second hour ends 09:00 local = 08:00 UTC.
    start = local(BERLIN, 2026, 1, 5, 15)
    assert calendar.add(start, parse_duration("2 business hours")) == utc(2026, 1, 7, 8)


@pytest.mark.parametrize(
    "settings",
    [
        {"timezone": "Europe/Atlantis"},
        {"country": "XX"},
        {"subdivision": "ZZ"},
        {"working_days": ()},
        {"working_days": (7,)},
        {"working_hours": (17 * 60, 9 * 60)},
        {"working_hours": (9 * 60, 25 * 60)},
    ],
)
def test_unusable_settings_are_refused_with_a_message(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        BusinessCalendar.from_config(_Business(**settings))  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        RO.add(datetime(2026, 6, 8, 10), parse_duration("1 business day"))


# -- subtraction: "remind 1 business day before the promised date" ------------------

SUBTRACT_CASES = [
    pytest.param(RO, local(BUCHAREST, 2026, 6, 9, 10), "1 business day",
                 utc(2026, 6, 8, 7), id="tuesday-10h-minus-1-business-day-is-monday-10h"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 15, 10), "2 business hours",
                 utc(2026, 6, 12, 13), id="business-hours-go-back-over-the-weekend"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 15, 17), "1 business day",
                 utc(2026, 6, 12, 14), id="monday-closing-minus-1-business-day-is-friday-closing"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 13, 11), "1 business hour",
                 utc(2026, 6, 12, 13), id="from-a-saturday-counts-back-from-friday-closing"),
    pytest.param(RO, local(BUCHAREST, 2026, 6, 9, 2, 30), "1 business hour",
                 utc(2026, 6, 8, 13), id="from-the-night-counts-back-from-the-evening-closing"),
    pytest.param(RO, local(BUCHAREST, 2026, 12, 2, 10), "1 business day",
                 utc(2026, 11, 27, 8), id="ro-holidays-and-weekend-are-skipped-backwards"),
    pytest.param(DE_BY, local(BERLIN, 2026, 1, 7, 12), "1 business day",
                 utc(2026, 1, 5, 11), id="bavarian-epiphany-is-skipped-backwards"),
    pytest.param(DE_BE, local(BERLIN, 2026, 1, 7, 12), "1 business day",
                 utc(2026, 1, 6, 11), id="berlin-works-on-epiphany"),
    pytest.param(RO, local(BUCHAREST, 2026, 3, 30, 10), "1 business day",
                 utc(2026, 3, 27, 8), id="spring-change-keeps-10h-local-backwards"),
    pytest.param(RO, local(BUCHAREST, 2026, 10, 26, 10), "1 business day",
                 utc(2026, 10, 23, 7), id="autumn-change-keeps-10h-local-backwards"),
    pytest.param(RO, local(BUCHAREST, 2026, 3, 30, 10), "2 days",
                 utc(2026, 3, 28, 8), id="calendar-days-back-are-local-days"),
    pytest.param(RO, local(BUCHAREST, 2026, 12, 1, 10), "15 minutes",
                 utc(2026, 12, 1, 7, 45), id="calendar-minutes-back-ignore-holidays"),
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 6, 10, 0, 0, 30),
                 "90 business seconds", utc(2026, 6, 9, 20, 59),
                 id="round-the-clock-seconds-back-across-midnight"),
    pytest.param(RO_ROUND_THE_CLOCK, local(BUCHAREST, 2026, 12, 2, 0, 0, 30),
                 "60 business seconds", utc(2026, 11, 29, 21, 59, 30),
                 id="round-the-clock-seconds-back-skip-holidays"),
]


@pytest.mark.parametrize(("calendar", "end", "duration", "expected"), SUBTRACT_CASES)
def test_subtract_gives_the_instant_that_much_business_time_before(
    calendar: BusinessCalendar, end: datetime, duration: str, expected: datetime
) -> None:
    assert calendar.subtract(end, parse_duration(duration)) == expected


@pytest.mark.parametrize("duration", ["1 business day", "3 business days", "5 business hours",
                                      "90 business seconds", "16 business hours"])
@pytest.mark.parametrize("start", [local(BUCHAREST, 2026, 6, 8, 10),
                                   local(BUCHAREST, 2026, 11, 27, 16),
                                   local(BUCHAREST, 2026, 3, 27, 11, 15),
                                   local(BUCHAREST, 2026, 10, 23, 16, 59, 30)])
def test_subtract_undoes_add_from_inside_opening_hours(start: datetime, duration: str) -> None:
    parsed = parse_duration(duration)
    assert RO.subtract(RO.add(start, parsed), parsed) == start.astimezone(UTC)
