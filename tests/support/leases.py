"""One cycle after every lease a killed run may have left has run out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from triaged import app as wiring
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle
from triaged.domain.clock import FixedClock
from triaged.usecases.sender import LEASE


def cycle_past_the_lease(config_path: Path) -> None:
    """A letter a killed run had claimed stays leased for `sender.LEASE` when its
    sender's fate cannot be known, then goes out again: one more cycle, the clock
    moved past the lease."""
    later = FixedClock(datetime.now(UTC) + LEASE + timedelta(minutes=1))
    app = wiring.build(load(config_path), clock=later)
    try:
        assert run_cycle(app).ok
    finally:
        app.close()
        app.engine.dispose()
