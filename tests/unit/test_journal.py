"""The event journal: what a use case records is written in order, with its transaction,
and nothing of a block that failed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from tests import stored
from triaged.domain.events import Event
from triaged.domain.records import EventKind
from triaged.store.db import make_engine, savepoint, transaction, write_transaction
from triaged.store.journal import COPY_FROM, Journal, Later
from triaged.store.models import Event as EventRow

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _logged(engine: Engine, complaint_id: int) -> list[tuple[str, str, dict[str, object]]]:
    with transaction(engine) as session:
        found = session.exec(select(EventRow).where(EventRow.complaint_id == complaint_id)
                             .order_by(col(EventRow.id))).all()
    return [(e.kind, e.actor, json.loads(e.detail)) for e in found]


def test_recorded_events_are_written_in_the_order_they_happened(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        complaint_id = stored.register(conn, "J0U-RN41", received_at=NOW)
        with Journal(conn) as journal:
            journal.record(Event(complaint_id, EventKind.FOLLOW_UP, NOW, "customer"),
                           None,  # a step that changed nothing
                           Event(complaint_id, EventKind.CATEGORIZED, NOW, "system",
                                 detail={"category": "delivery", "at": NOW}))
            journal.record(Event(complaint_id, EventKind.REMINDED, NOW, "system"))
    assert _logged(engine, complaint_id)[1:] == [
        ("follow_up", "customer", {}),
        ("categorized", "system", {"at": NOW.isoformat(), "category": "delivery"}),
        ("reminded", "system", {}),
    ]


def _failing_step(conn: Connection, complaint_id: int) -> None:
    with savepoint(conn), Journal(conn) as journal:
        journal.record(Event(complaint_id, EventKind.FOLLOW_UP, NOW, "customer"))
        raise RuntimeError("a step failed")


def test_a_block_that_fails_writes_none_of_its_events(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        complaint_id = stored.register(conn, "J0U-RN42", received_at=NOW)
        with pytest.raises(RuntimeError):
            _failing_step(conn, complaint_id)
        # The transaction goes on, as intake's does after one bad message.
        with Journal(conn) as journal:
            journal.record(Event(complaint_id, EventKind.REMINDED, NOW, "system"))
    assert [kind for kind, _, _ in _logged(engine, complaint_id)] == ["registered", "reminded"]


def test_an_event_keeps_the_detail_it_was_recorded_with() -> None:
    detail: dict[str, object] = {"why": "first"}
    event = Event(1, EventKind.LETTER_SUPPRESSED, NOW, "system", detail=detail)
    detail["why"] = "changed afterwards"
    assert event.detail == {"why": "first"}
    with pytest.raises(TypeError):
        event.detail["why"] = "edited"  # type: ignore[index]


def test_a_batch_s_events_are_written_as_the_same_rows_however_many(engine: Engine) -> None:
    # A batch of many messages writes its events in one go (on PostgreSQL, past
    # COPY_FROM, not as INSERTs): the same rows, in order, as a few written alone.
    with write_transaction(engine) as conn:
        complaint_id = stored.register(conn, "J0U-RN43", received_at=NOW)
        later = Later()
        for n in range(COPY_FROM + 5):
            with Journal(conn, later) as journal:
                journal.record(Event(complaint_id, EventKind.CATEGORIZED,
                                     NOW + timedelta(seconds=n), "system", None,
                                     {"n": n, "words": ["délai", "配送"], "at": NOW}))
        later.write(conn)
    with transaction(engine) as session:
        found = session.exec(select(EventRow).where(EventRow.complaint_id == complaint_id)
                             .order_by(col(EventRow.id))).all()
    assert [(e.kind, e.at, json.loads(e.detail)) for e in found[1:]] == [
        ("categorized", NOW + timedelta(seconds=n),
         {"n": n, "words": ["délai", "配送"], "at": NOW.isoformat()})
        for n in range(COPY_FROM + 5)]
    assert all(e.at.tzinfo is not None for e in found)


def test_a_batch_s_event_about_no_such_complaint_fails_as_any_database_error(
    engine: Engine,
) -> None:
    later = Later()
    later.events.extend(Event(999_999, EventKind.REMINDED, NOW, "system")
                        for _ in range(COPY_FROM))
    with pytest.raises(IntegrityError), write_transaction(engine) as conn:
        later.write(conn)
