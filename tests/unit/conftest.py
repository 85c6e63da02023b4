"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from triaged.store.db import make_engine, migrate


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty SQLite store at the newest revision."""
    engine = make_engine(f"sqlite:///{tmp_path / 'triaged.db'}")
    migrate(engine)
    yield engine
    engine.dispose()
