"""`[privacy]`: how long a customer's personal data is kept after their complaint ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from triaged.config.reader import Table, positive_timedelta

DEFAULT_RETENTION = "2 years"


@dataclass(frozen=True)
class PrivacyConfig:
    """`retention`: after a complaint is resolved or closed, how long until it is
    anonymised (None: kept forever)."""

    retention: timedelta | None = timedelta(days=730)


def read_privacy(t: Table) -> PrivacyConfig:
    """Build `[privacy]`, recording every problem under its key path."""
    default: timedelta | None = positive_timedelta(DEFAULT_RETENTION)
    config = PrivacyConfig(retention=t.checked("retention", default, _retention))
    t.finish()
    return config


def _retention(text: str) -> timedelta | None:
    """A calendar duration ("2 years", "90 days"); "" keeps data forever."""
    return positive_timedelta(text) if text.strip() else None
