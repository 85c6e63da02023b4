"""Statements compiled once and handed to the driver (`store.prepared`) store what
SQLAlchemy's own execution stores: times as every other row has them (so they sort and
compare with the rest), flags and empty values alike, and a naive time is still refused.
An insert gives the id of the row it wrote, and none when it wrote none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from triaged.store.db import make_engine, write_transaction
from triaged.store.models import metadata
from triaged.store.prepared import Prepared, PreparedInsert

_letter = metadata.tables["outbox_letter"]
NOW = datetime(2026, 5, 4, 9, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _letter_values(message_id: str, **change: Any) -> dict[str, Any]:
    return {"complaint_id": None, "kind": "holding", "to_email": "Ana@Example.com",
            "to_key": "ana@example.com", "about_key": "", "message_id": message_id,
            "subject": "Re: crushed cake", "raw": b"From: support\r\n\r\nThank you\r\n",
            "automatic": True, "state": "queued", "attempts": 0, "next_attempt_at": NOW,
            "last_error": "", "created_at": NOW, "sent_at": None, "claimed_by": "",
            **change}


def test_a_prepared_insert_stores_the_row_execute_would(engine: Engine) -> None:
    prepared = Prepared(insert(_letter).returning(_letter.c.id))
    with write_transaction(engine) as conn:
        ours = prepared.execute(conn, _letter_values("<a@x>")).scalar_one()
        theirs = conn.execute(insert(_letter).returning(_letter.c.id),
                              _letter_values("<b@x>")).scalar_one()
        # As stored, before any conversion on the way out: SQLite keeps times as text.
        stored = {row[0]: row[1:] for row in conn.execute(text(
            "SELECT id, next_attempt_at, created_at, sent_at, automatic, raw, to_email "
            "FROM outbox_letter ORDER BY id"))}
    assert stored[ours] == stored[theirs]


def test_a_time_bound_by_a_prepared_statement_compares_with_stored_times(
    engine: Engine,
) -> None:
    since = Prepared(select(_letter.c.message_id)
                     .where(_letter.c.created_at >= bindparam("since"))
                     .order_by(_letter.c.message_id))
    with write_transaction(engine) as conn:
        conn.execute(insert(_letter), [_letter_values("<old@x>"),
                                       _letter_values("<new@x>",
                                                      created_at=NOW + timedelta(hours=1))])
        found = [row[0] for row in since.execute(conn, {"since": NOW + timedelta(minutes=1)})]
        at_the_second = [row[0] for row in since.execute(conn, {"since": NOW})]
    assert found == ["<new@x>"]
    assert at_the_second == ["<new@x>", "<old@x>"]


def test_a_naive_time_is_refused_as_execute_refuses_it(engine: Engine) -> None:
    prepared = Prepared(insert(_letter).returning(_letter.c.id))
    with pytest.raises(ValueError, match="naive"), write_transaction(engine) as conn:
        prepared.execute(conn, _letter_values("<c@x>", created_at=datetime(2026, 5, 4, 9)))


def test_an_insert_gives_the_id_of_the_row_it_wrote_and_none_when_it_wrote_none(
    engine: Engine,
) -> None:
    letters = PreparedInsert(insert(_letter), _letter.c.id)
    unless_taken = PreparedInsert(
        sqlite_insert(_letter).on_conflict_do_nothing(index_elements=[_letter.c.message_id])
        if engine.dialect.name == "sqlite" else
        postgresql_insert(_letter).on_conflict_do_nothing(index_elements=[_letter.c.message_id]),
        _letter.c.id)
    with write_transaction(engine) as conn:
        first = letters.insert_id(conn, _letter_values("<a@x>"))
        second = letters.insert_id(conn, _letter_values("<b@x>"))
        # Right after a row was written: a conflict must not give that row's id.
        taken = unless_taken.insert_id(conn, _letter_values("<a@x>"))
        third = unless_taken.insert_id(conn, _letter_values("<c@x>"))
        stored = {row[0]: row[1]
                  for row in conn.execute(select(_letter.c.message_id, _letter.c.id))}
    assert taken is None
    assert (first, second, third) == (stored["<a@x>"], stored["<b@x>"], stored["<c@x>"])
    assert len(stored) == 3
