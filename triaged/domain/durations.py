"""Durations as people write them in the config: "90s", "4 hours", "5 business days".

Calendar durations become a `timedelta`; business durations keep their unit,
because "5 business days" means nothing until a business calendar counts it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import timedelta


class Unit(enum.StrEnum):
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    # A year is 365 days: keeping data "2 years" needs no leap-day precision.
    YEARS = "years"


_UNIT_WORDS: dict[str, Unit] = {
    "s": Unit.SECONDS, "sec": Unit.SECONDS, "secs": Unit.SECONDS,
    "second": Unit.SECONDS, "seconds": Unit.SECONDS,
    "m": Unit.MINUTES, "min": Unit.MINUTES, "mins": Unit.MINUTES,
    "minute": Unit.MINUTES, "minutes": Unit.MINUTES,
    "h": Unit.HOURS, "hr": Unit.HOURS, "hrs": Unit.HOURS,
    "hour": Unit.HOURS, "hours": Unit.HOURS,
    "d": Unit.DAYS, "day": Unit.DAYS, "days": Unit.DAYS,
    "w": Unit.WEEKS, "week": Unit.WEEKS, "weeks": Unit.WEEKS,
    "y": Unit.YEARS, "year": Unit.YEARS, "years": Unit.YEARS,
}

_PATTERN = re.compile(
    r"^\s*(?P<amount>\d+)\s*(?P<business>business\s+)?(?P<unit>[a-z]+)\s*$", re.IGNORECASE
)


@dataclass(frozen=True)
class Duration:
    amount: int
    unit: Unit
    business: bool = False

    def as_timedelta(self) -> timedelta:
        """The calendar length; for business durations use the business calendar."""
        if self.business:
            raise ValueError(f"{self} is counted in business time, not calendar time")
        if self.unit is Unit.YEARS:
            return timedelta(days=365 * self.amount)
        return timedelta(**{self.unit.value: self.amount})

    def __str__(self) -> str:
        word = self.unit.value if self.amount != 1 else self.unit.value[:-1]
        return f"{self.amount} {'business ' if self.business else ''}{word}"


def parse_duration(text: str) -> Duration:
    """Parse "90s", "15 minutes", "2 days", "3 business hours", "5 business days".

    Raises ValueError with a message fit to show the user.
    """
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"expected a duration such as '90s', '4 hours' or '5 business days', got {text!r}"
        )
    unit = _UNIT_WORDS.get(match["unit"].lower())
    if unit is None:
        raise ValueError(f"unknown time unit {match['unit']!r} in {text!r}")
    business = match["business"] is not None
    if business and unit in (Unit.WEEKS, Unit.YEARS):
        raise ValueError(f"business time is counted in seconds to days, not weeks: {text!r}")
    return Duration(int(match["amount"]), unit, business)
