"""Complaint lifecycle: registration, guarded transitions, the event log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from triaged.domain.records import ComplaintState, EventKind
from triaged.store import complaints, messages
from triaged.store.db import make_engine, transaction
from triaged.store.models import Complaint, Event

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DUE = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
S = ComplaintState


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _register(session: Session, reference: str = "K7M-Q3X9") -> Complaint:
    row = messages.add_message(
        session, mailbox="support", folder="INBOX", sha256=reference, received_at=NOW
    )
    return complaints.register(
        session,
        reference=reference,
        mailbox="support",
        customer_email="ana@example.com",
        customer_name="Ana",
        subject="Broken oven",
        language="ro",
        received_at=NOW,
        due_at=DUE,
        message_row=row,
        now=NOW,
    )


def _events(session: Session, complaint: Complaint) -> list[Event]:
    return list(
        session.exec(
            select(Event).where(Event.complaint_id == complaint.id).order_by(col(Event.id))
        )
    )


def test_registering_stores_a_received_complaint_and_logs_its_due_date(engine: Engine) -> None:
    with transaction(engine) as session:
        complaint = _register(session)
    with transaction(engine) as session:
        loaded = complaints.get_by_reference(session, "K7M-Q3X9")
        assert loaded is not None
        events = _events(session, loaded)
        assert complaints.reference_exists(session, "K7M-Q3X9")
        assert not complaints.reference_exists(session, "K7M-Q3X8")
        assert complaints.get_by_reference(session, "k7m-q3x9") is None
    assert loaded.state == S.RECEIVED.value
    assert loaded.due_at == DUE
    assert [e.kind for e in events] == [EventKind.REGISTERED.value]
    assert json.loads(events[0].detail)["due_at"] == DUE.isoformat()
    assert events[0].message_row_id is not None
    assert complaint.id == loaded.id


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
    with transaction(engine) as session:
        complaint = _register(session)
        for step, state in enumerate(path):
            complaints.transition(
                session, complaint, state, now=NOW + timedelta(minutes=step), actor="cli:ana"
            )
    with transaction(engine) as session:
        changes = [e for e in _events(session, complaint) if e.kind == "state_changed"]
    expected_from = [S.RECEIVED, *path[:-1]]
    assert [json.loads(e.detail)["from"] for e in changes] == [s.value for s in expected_from]
    assert [json.loads(e.detail)["to"] for e in changes] == [s.value for s in path]
    assert {e.actor for e in changes} == {"cli:ana"}
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
    with transaction(engine) as session:
        complaint = _register(session)
        for state in path:
            complaints.transition(session, complaint, state, now=NOW, actor="system")
        before = len(_events(session, complaint))
        current = complaint.state
        with pytest.raises(ValueError, match=f"from {current} to {illegal.value}"):
            complaints.transition(session, complaint, illegal, now=NOW, actor="system")
        assert complaint.state == current
        assert len(_events(session, complaint)) == before


def test_a_transition_records_the_message_that_caused_it_and_extra_detail(
    engine: Engine,
) -> None:
    with transaction(engine) as session:
        complaint = _register(session)
        reply = messages.add_message(
            session, mailbox="support", folder="INBOX", sha256="reply", received_at=NOW
        )
        complaints.transition(
            session,
            complaint,
            S.IN_PROGRESS,
            now=NOW,
            actor="customer",
            message_row=reply,
            detail={"reason": "customer wrote again"},
        )
        last = _events(session, complaint)[-1]
    assert last.message_row_id == reply.id
    assert json.loads(last.detail) == {
        "from": "received",
        "to": "in_progress",
        "reason": "customer wrote again",
    }


def test_free_form_events_keep_their_kind_actor_and_detail(engine: Engine) -> None:
    with transaction(engine) as session:
        complaint = _register(session)
        complaints.add_event(
            session,
            complaint.id,
            EventKind.FOLLOW_UP,
            now=NOW,
            actor="customer",
            detail={"at": NOW, "state": S.ACKNOWLEDGED},
        )
        event = _events(session, complaint)[-1]
    assert (event.kind, event.actor) == ("follow_up", "customer")
    assert json.loads(event.detail) == {"at": NOW.isoformat(), "state": "acknowledged"}
