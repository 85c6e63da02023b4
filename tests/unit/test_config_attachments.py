"""[attachments]: how much of the customer's files a letter carries, and the largest
message kept whole (one figure with [limits] raw_max, its older name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.config_values import MINIMAL, problems_of, with_values
from triaged.config.loading import from_mapping

MB = 1024 * 1024


def test_the_defaults_carry_ten_megabytes_and_keep_messages_to_twenty_five() -> None:
    config = from_mapping(MINIMAL, Path("/nonexistent"))
    assert config.attachments.forward_max == 10 * MB
    assert config.attachments.max_size == 25 * MB
    assert config.limits.raw_max == 25 * MB


def test_max_size_is_the_one_figure_for_the_raw_copy_too() -> None:
    data = with_values(MINIMAL, attachments__max_size="5 MB", attachments__forward_max="2 MB")
    config = from_mapping(data, Path("/nonexistent"))
    assert config.attachments.max_size == config.limits.raw_max == 5 * MB
    assert config.attachments.forward_max == 2 * MB


def test_an_older_config_with_raw_max_sets_max_size() -> None:
    config = from_mapping(with_values(MINIMAL, limits__raw_max="3 MB"), Path("/nonexistent"))
    assert config.attachments.max_size == config.limits.raw_max == 3 * MB


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"attachments__forward_max": "lots"}, "attachments.forward_max: expected a size"),
        ({"attachments__max_size": "1 KB"}, "attachments.max_size: expected at least"),
        ({"attachments__max_size": "5 MB", "limits__raw_max": "3 MB"},
         "attachments.max_size: differs from [limits] raw_max"),
        ({"attachments__forward": "1 MB"}, "attachments.forward"),
    ],
)
def test_bad_values_are_problems_with_their_key(changes: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in problems_of(with_values(MINIMAL, **changes)))
