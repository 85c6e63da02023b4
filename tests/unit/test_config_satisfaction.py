"""[satisfaction]: when to ask whether a complaint is settled, and when to close it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.config_values import MINIMAL, problems_of, with_values
from triaged.config.loading import from_mapping
from triaged.domain.durations import Duration, Unit


def test_the_defaults_ask_after_three_business_days_and_close_after_a_quiet_week() -> None:
    config = from_mapping(MINIMAL, Path("/nonexistent"))
    assert config.satisfaction.check is True
    assert config.satisfaction.check_after == Duration(3, Unit.DAYS, business=True)
    assert config.satisfaction.close_after == Duration(7, Unit.DAYS)


def test_the_keys_are_read() -> None:
    data = with_values(MINIMAL, satisfaction__check=False, satisfaction__check_after="2 days",
                       satisfaction__close_after="10 business days")
    config = from_mapping(data, Path("/nonexistent"))
    assert config.satisfaction.check is False
    assert config.satisfaction.check_after == Duration(2, Unit.DAYS)
    assert config.satisfaction.close_after == Duration(10, Unit.DAYS, business=True)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"satisfaction__check": "yes"}, "satisfaction.check: expected true or false"),
        ({"satisfaction__check_after": "soon"}, "satisfaction.check_after: expected a duration"),
        ({"satisfaction__close_after": "0 days"}, "satisfaction.close_after: must be longer"),
        ({"satisfaction__delay": "1 day"}, "satisfaction.delay"),
    ],
)
def test_bad_values_are_problems_with_their_key(changes: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in problems_of(with_values(MINIMAL, **changes)))


def test_the_example_config_documents_the_keys() -> None:
    example = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    for key in ("[satisfaction]", "check =", "check_after =", "close_after ="):
        assert key in example
