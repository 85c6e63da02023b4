"""The countries the `holidays` package knows, each loaded only when asked for.

`holidays` keeps a registry of its countries and loads a country's module on
first use, but importing any one of those modules first runs the package that
holds them, `holidays.countries`, which imports all of them: about 250 modules
and 8 MB, kept by the daemon for good, for the one country a business is in.
So that package is registered here without being run: its modules stay
importable one by one, under their usual names (a territory's module imports
its mother country's, as before), and `holidays`' own functions work as ever
on whichever they load.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import threading
from types import ModuleType

import holidays
from holidays.registry import EntityLoader

_PACKAGE = "holidays.countries"
_lock = threading.Lock()


def _countries_package() -> None:
    """Register `holidays.countries` as an empty package, unless it is imported already."""
    with _lock:
        if _PACKAGE in sys.modules:
            return
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or spec.submodule_search_locations is None:
            return  # not laid out as expected: importing it whole still works
        package: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[_PACKAGE] = package
        holidays.countries = package


@functools.cache
def codes() -> frozenset[str]:
    """Every country code `holidays` accepts, aliases included ("GB", "UK", "GBR")."""
    return frozenset(EntityLoader.get_country_codes())


def subdivisions(country: str) -> tuple[str, ...]:
    """The subdivisions (states, counties) `holidays` knows of `country`, a known code."""
    _countries_package()
    return tuple(getattr(holidays, country).subdivisions)


def country_holidays(country: str, subdivision: str = "",
                     year: int | None = None) -> holidays.HolidayBase:
    """`holidays.country_holidays` of `country` and `subdivision` ("" for none), with
    `year` worked out at once (None: each year when first asked about).

    Raises NotImplementedError for a country or subdivision `holidays` does not know.
    """
    _countries_package()
    return holidays.country_holidays(country, subdiv=subdivision or None, years=year)
