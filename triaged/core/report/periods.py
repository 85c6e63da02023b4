"""Which days a report covers, in the business's time zone (pure).

A period is a half-open range of local days [first, last + 1 day) turned into
UTC instants. The scheduled report is due at `at` business time on its day
(`day` for weekly reports, the 1st for monthly ones) and covers the period
just ended; it is sent at most a day late (a restart over the send time), so
a daemon first started mid-week waits for the next period instead of mailing
an old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from triaged.config.report import ReportConfig

# How late a scheduled report may still go after its time.
CATCH_UP = timedelta(days=1)


@dataclass(frozen=True)
class Period:
    first: date
    # The last day included.
    last: date
    zone: ZoneInfo

    @property
    def since(self) -> datetime:
        return local_midnight(self.first, self.zone)

    @property
    def until(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1), self.zone)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def day_starts(self) -> list[datetime]:
        """Each day's start and the period's end: the bounds of the per-day counts."""
        return [local_midnight(d, self.zone) for d in self.days] + [self.until]

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        length = (self.last - self.first).days + 1
        return Period(self.first - timedelta(days=length), self.first - timedelta(days=1),
                      self.zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant `day` begins in `zone`, in UTC (so differences count real hours)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


class BadPeriod(ValueError):
    """The dates asked for make no period; the message says why."""


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadPeriod(f"{option}: expected a date such as 2026-11-30, got {text!r}") from None


def asked_period(since: str, until: str, today: date, zone: ZoneInfo) -> Period:
    """The period `triaged report` means: both dates included.

    Neither given: the last full week (Monday to Sunday) before this one. Only
    `--since`: up to yesterday. Only `--until`: the seven days ending then.
    """
    first = parse_day(since, "--since") if since else None
    last = parse_day(until, "--until") if until else None
    if first is None and last is None:
        monday = today - timedelta(days=today.weekday())
        return Period(monday - timedelta(days=7), monday - timedelta(days=1), zone)
    if last is None:
        assert first is not None
        last = max(first, today - timedelta(days=1))
    if first is None:
        first = last - timedelta(days=6)
    if first > last:
        raise BadPeriod(f"--since {first.isoformat()} is after --until {last.isoformat()}")
    return Period(first, last, zone)


@dataclass(frozen=True)
class Due:
    """A scheduled report whose time has come: its period and its claim key."""

    period: Period
    key: str
    send_at: datetime


def due_report(config: ReportConfig, zone: ZoneInfo, now: datetime) -> Due | None:
    """The scheduled report due at `now`, or None (not configured, or not its time)."""
    if not config.scheduled:
        return None
    local = now.astimezone(zone)
    at = time(config.at // 60, config.at % 60)
    if config.every == "week":
        day = local.date() - timedelta(days=(local.weekday() - config.day) % 7)
        send_at = datetime.combine(day, at, tzinfo=zone)
        if send_at > now:
            day -= timedelta(days=7)
            send_at = datetime.combine(day, at, tzinfo=zone)
        period = Period(day - timedelta(days=7), day - timedelta(days=1), zone)
        key = f"week:{period.first.isoformat()}"
    else:
        day = local.date().replace(day=1)
        send_at = datetime.combine(day, at, tzinfo=zone)
        if send_at > now:
            day = (day - timedelta(days=1)).replace(day=1)
            send_at = datetime.combine(day, at, tzinfo=zone)
        first = (day - timedelta(days=1)).replace(day=1)
        period = Period(first, day - timedelta(days=1), zone)
        key = f"month:{first.isoformat()[:7]}"
    if now - send_at > CATCH_UP:
        return None
    return Due(period, key, send_at)
