"""Stored timestamps: the text SQLite keeps is SQLAlchemy's own, whoever formats it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import sqlite

from triaged.store.types import UTCDateTime

INSTANTS = [
    datetime(2026, 12, 7, 18, 33, 42, tzinfo=UTC),
    datetime(2026, 12, 7, 18, 33, 42, 7, tzinfo=UTC),
    datetime(1999, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
    datetime(2027, 3, 28, 2, 30, tzinfo=timezone(timedelta(hours=3))),
    datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
]


@pytest.mark.parametrize("instant", INSTANTS)
def test_sqlite_text_is_sqlalchemys_datetime_text(instant: datetime) -> None:
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    stock = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None
    assert stock is not None
    assert ours(instant) == stock(instant.astimezone(UTC).replace(tzinfo=None))


def test_naive_and_wrong_types_are_refused_on_sqlite() -> None:
    dialect = sqlite.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert process(None) is None
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 12, 7, 12, 0))
    with pytest.raises(TypeError):
        process("2026-12-07 12:00:00")


def test_stored_times_read_back_aware_and_in_order() -> None:
    engine = create_engine("sqlite://")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", UTCDateTime()))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"at": at} for at in INSTANTS])
        back = [row.at for row in conn.execute(select(table.c.at).order_by(table.c.at))]
        later = conn.execute(select(table.c.id).where(table.c.at > INSTANTS[0])).all()
        stored = conn.exec_driver_sql("SELECT at FROM t ORDER BY id").scalars().all()
    assert back == sorted(at.astimezone(UTC) for at in INSTANTS)
    assert all(at.tzinfo is UTC for at in back)
    assert len(later) == sum(at > INSTANTS[0] for at in INSTANTS)
    assert stored[0] == "2026-12-07 18:33:42.000000"
    assert stored[3] == "2027-03-27 23:30:00.000000"
