"""The countries `holidays` knows, each loaded on its own: the same codes, subdivisions
and dates as the package loaded whole."""

from __future__ import annotations

import json
import subprocess
import sys

import holidays

from triaged.config import countries

CASES = [("RO", ""), ("DE", "BY"), ("US", "CA"), ("GB", "SCT"), ("UK", ""), ("FR", ""),
         ("GF", ""), ("AS", ""), ("JP", ""), ("KR", ""), ("TH", ""), ("PH", ""), ("CHE", "ZH")]

# Each side in a fresh interpreter: in one process both would read the same modules.
DATES = """
import json, sys
cases = json.loads(sys.argv[1])
if sys.argv[2] == "one at a time":
    from triaged.config.countries import country_holidays
else:
    import holidays
    def country_holidays(country, subdivision, year):
        return holidays.country_holidays(country, subdiv=subdivision or None, years=year)
print(json.dumps({f"{c}-{s}": sorted(str(d) for y in (2025, 2026, 2027)
                                     for d in country_holidays(c, s, y)) for c, s in cases}))
"""


def dates(how: str) -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", DATES, json.dumps(CASES), how],
                          capture_output=True, text=True, timeout=120, check=True)
    found: dict[str, list[str]] = json.loads(done.stdout)
    return found


def test_each_country_loaded_on_its_own_has_the_same_public_holidays() -> None:
    alone, whole = dates("one at a time"), dates("whole")
    assert alone == whole
    assert "2026-12-01" in alone["RO-"]  # Romania's National Day


def test_the_codes_and_subdivisions_are_those_of_the_whole_package() -> None:
    known = {code: list(countries.subdivisions(code)) for code in countries.codes()}
    assert known == holidays.list_supported_countries()
