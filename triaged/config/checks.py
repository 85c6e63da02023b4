"""Checks for configuration values that mean something: zones, countries, hours, tags.

Each function takes the value as written and returns it in the form the
config stores, or raises ValueError with a message fit for the operator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {name: number for names in (WEEKDAYS, _FULL_DAYS)
              for number, name in enumerate(names)}
MINUTES_PER_DAY = 24 * 60

_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")
# BCP 47 as template folders name languages: "en", "tl", "pt-BR", "zh-Hant".
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
# Deliberately loose: one "@" with something on each side and no spaces; the
# mail server is the judge of the rest, this only catches slips of the pen.
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b|b)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def time_zone(name: str) -> str:
    """An IANA time zone name known to zoneinfo, e.g. "Europe/Bucharest"."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


def country(code: str) -> str:
    """A country the `holidays` package knows, upper-cased; "" means no public holidays."""
    # Imported here: the reading processes load the config's records (for the
    # reading rules) and would otherwise carry `holidays` (about 10 MB) unused.
    from triaged.config import countries

    if not code:
        return ""
    upper = code.upper()
    if upper not in countries.codes():
        raise ValueError(f"unknown country {code!r} (expected an ISO code such as 'RO')")
    return upper


def subdivision(country_code: str, code: str) -> str:
    """A subdivision (state, county) of `country_code` that `holidays` knows; "" for none."""
    from triaged.config import countries  # see country()

    if not code:
        return ""
    if not country_code:
        raise ValueError("a subdivision needs business.country")
    known = countries.subdivisions(country_code) if country_code in countries.codes() else ()
    if code in known:
        return code
    if not known:
        raise ValueError(f"{country_code} has no subdivisions, got {code!r}")
    raise ValueError(f"unknown subdivision {code!r} of {country_code}; expected one of "
                     + ", ".join(known))


def weekdays(names: Sequence[str]) -> tuple[int, ...]:
    """["mon", "fri"] → (0, 4): sorted weekday numbers, Monday = 0, at least one."""
    days: set[int] = set()
    for name in names:
        number = _DAY_NAMES.get(name.strip().lower())
        if number is None:
            raise ValueError(f"unknown day {name!r}; expected {', '.join(WEEKDAYS)}")
        days.add(number)
    if not days:
        raise ValueError("expected at least one working day")
    return tuple(sorted(days))


def working_hours(pair: Sequence[str]) -> tuple[int, int]:
    """["09:00", "17:00"] → (540, 1020) in minutes since midnight; "24:00" may close."""
    if len(pair) != 2:
        raise ValueError('expected two times, opening and closing, e.g. ["09:00", "17:00"]')
    opening = _minutes(pair[0], allow_midnight_end=False)
    closing = _minutes(pair[1], allow_midnight_end=True)
    if closing <= opening:
        raise ValueError(f"closing time {pair[1]!r} must be after opening time {pair[0]!r}")
    return opening, closing


def _minutes(text: str, *, allow_midnight_end: bool) -> int:
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"expected a time as HH:MM, got {text!r}")
    hours, minutes = int(match[1]), int(match[2])
    total = hours * 60 + minutes
    if minutes > 59 or total > MINUTES_PER_DAY or (total == MINUTES_PER_DAY
                                                   and not allow_midnight_end):
        limit = "00:00 to 24:00" if allow_midnight_end else "00:00 to 23:59"
        raise ValueError(f"expected a time from {limit}, got {text!r}")
    return total


def closed_date(value: Any) -> date:
    """An ISO date, written as a TOML date (2025-12-24) or a string ("2025-12-24")."""
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"expected an ISO date such as 2025-12-24, got {value!r}")


def language(tag: str) -> str:
    """A BCP 47 language tag as the template folders name it ("en", "tl", "pt-BR")."""
    if not _LANGUAGE.match(tag):
        raise ValueError(f"expected a language tag such as 'en' or 'pt-BR', got {tag!r}")
    return tag


def address(value: object) -> str:
    """An email address, plainly: "name@domain", no display name, no spaces."""
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise ValueError(f"expected an email address such as 'name@example.com', got {value!r}")
    return value


def byte_size(text: str, *, low: int = 1) -> int:
    """A size such as "25 MB", "512 KB" or "1 GB" (binary units; KiB, MiB, GiB too) in bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"expected a size such as '25 MB' or '512 KB', got {text!r}")
    size = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower().replace("i", "")]
    if size < low:
        raise ValueError(f"expected at least {low:,} bytes, got {text!r}")
    return size
