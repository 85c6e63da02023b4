"""Complaint lifecycle: registration, guarded transitions, the event log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine
from sqlmodel import Session, col, select

from tests import stored
from triaged.domain.errors import ForbiddenMove
from triaged.domain.events import Event as DomainEvent
from triaged.domain.records import ComplaintState, EventKind
from triaged.store import rows
from triaged.store.db import make_engine, transaction, write_transaction
from triaged.store.journal import Journal
from triaged.store.models import Complaint, Event

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DUE = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
S = ComplaintState


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _register(conn: Connection, reference: str = "K7M-Q3X9") -> int:
    return stored.register(conn, reference, received_at=NOW, due_at=DUE, language="ro")


def _events(session: Session, complaint_id: int) -> list[Event]:
    return list(
        session.exec(
            select(Event).where(Event.complaint_id == complaint_id).order_by(col(Event.id))
        )
    )


def _move(conn: Connection, complaint_id: int, state: ComplaintState, *, now: datetime,
          actor: str, message_row_id: int | None = None,
          detail: dict[str, str] | None = None) -> None:
    """Change state as a use case does: from the state the complaint was just read in."""
    found = rows.complaint_by_id(conn, complaint_id)
    assert found is not None
    moved = rows.set_state(conn, found, state, now=now, actor=actor,
                           message_row_id=message_row_id, detail=detail)
    with Journal(conn) as journal:
        journal.record(moved)


def test_registering_stores_a_received_complaint_and_logs_its_due_date(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        complaint_id = _register(conn)
    with transaction(engine) as session:
        conn = session.connection()
        loaded = rows.complaint_by_reference(conn, "K7M-Q3X9")
        assert loaded is not None
        stored_row = session.get(Complaint, loaded.id)
        events = _events(session, loaded.id)
        assert rows.complaint_by_reference(conn, "K7M-Q3X9") is not None
        assert rows.complaint_by_reference(conn, "K7M-Q3X8") is None
        assert rows.complaint_by_reference(conn, "k7m-q3x9") is None
    assert stored_row is not None
    assert loaded.state == S.RECEIVED
    assert stored_row.state == S.RECEIVED.value
    assert stored_row.due_at == DUE
    assert [e.kind for e in events] == [EventKind.REGISTERED.value]
    assert json.loads(events[0].detail)["due_at"] == DUE.isoformat()
    assert events[0].message_row_id is not None
    assert complaint_id == loaded.id


PATHS = [
    [S.ACKNOWLEDGED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED, S.CLOSED],
    [S.IN_PROGRESS, S.AWAITING_APPROVAL, S.IN_PROGRESS, S.AWAITING_APPROVAL],
    [S.ACKNOWLEDGED, S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED, S.IN_PROGRESS],
    [S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED, S.CLOSED, S.IN_PROGRESS],
]


@pytest.mark.parametrize("path", PATHS, ids=lambda path: "→".join(s.value for s in path))
def test_allowed_transitions_are_each_logged_with_from_and_to(
    engine: Engine, path: list[ComplaintState]
) -> None:
    with write_transaction(engine) as conn:
        complaint_id = _register(conn)
        for step, state in enumerate(path):
            _move(conn, complaint_id, state, now=NOW + timedelta(minutes=step), actor="cli:ana")
    with transaction(engine) as session:
        changes = [e for e in _events(session, complaint_id) if e.kind == "state_changed"]
        complaint = session.get(Complaint, complaint_id)
    expected_from = [S.RECEIVED, *path[:-1]]
    assert [json.loads(e.detail)["from"] for e in changes] == [s.value for s in expected_from]
    assert [json.loads(e.detail)["to"] for e in changes] == [s.value for s in path]
    assert {e.actor for e in changes} == {"cli:ana"}
    assert complaint is not None
    assert complaint.state == path[-1].value
    assert complaint.updated_at == NOW + timedelta(minutes=len(path) - 1)


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], S.RESOLVED),
        ([], S.AWAITING_APPROVAL),
        ([S.ACKNOWLEDGED], S.ACKNOWLEDGED),
        ([S.ACKNOWLEDGED], S.CLOSED),
        ([S.IN_PROGRESS], S.RESOLVED),
        ([S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED, S.CLOSED], S.RESOLVED),
        ([S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED], S.RECEIVED),
    ],
)
def test_illegal_transitions_raise_naming_both_states_and_log_nothing(
    engine: Engine, path: list[ComplaintState], illegal: ComplaintState
) -> None:
    with write_transaction(engine) as conn, Session(bind=conn) as session:
        complaint_id = _register(conn)
        for state in path:
            _move(conn, complaint_id, state, now=NOW, actor="system")
        before = len(_events(session, complaint_id))
        found = rows.complaint_by_id(conn, complaint_id)
        assert found is not None
        current = found.state.value
        with pytest.raises(ForbiddenMove, match=f"from {current} to {illegal.value}"):
            rows.set_state(conn, found, illegal, now=NOW, actor="system")
        after = rows.complaint_by_id(conn, complaint_id)
        assert after is not None
        assert after.state.value == current
        assert len(_events(session, complaint_id)) == before


def test_a_transition_records_the_message_that_caused_it_and_extra_detail(
    engine: Engine,
) -> None:
    with write_transaction(engine) as conn, Session(bind=conn) as session:
        complaint_id = _register(conn)
        reply = stored.message(conn, sha256="reply", received_at=NOW)
        _move(conn, complaint_id, S.IN_PROGRESS, now=NOW, actor="customer",
              message_row_id=reply, detail={"reason": "customer wrote again"})
        last = _events(session, complaint_id)[-1]
    assert last.message_row_id == reply
    assert json.loads(last.detail) == {
        "from": "received",
        "to": "in_progress",
        "reason": "customer wrote again",
    }


def test_free_form_events_keep_their_kind_actor_and_detail(engine: Engine) -> None:
    with write_transaction(engine) as conn, Session(bind=conn) as session:
        complaint_id = _register(conn)
        with Journal(conn) as journal:
            journal.record(DomainEvent(
                complaint_id,
                EventKind.FOLLOW_UP,
                NOW,
                "customer",
                detail={"at": NOW, "state": S.ACKNOWLEDGED},
            ))
        event = _events(session, complaint_id)[-1]
    assert (event.kind, event.actor) == ("follow_up", "customer")
    assert json.loads(event.detail) == {"at": NOW.isoformat(), "state": "acknowledged"}
