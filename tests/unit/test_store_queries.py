"""What `triaged list`, `show` and `stats` read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine

from tests import stored
from triaged.domain.records import ComplaintState, LetterState, Outcome
from triaged.store import letter_claims, letter_fates, outbox_rows, queries, rows
from triaged.store.db import make_engine, transaction, write_transaction
from triaged.store.journal import Journal

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
S = ComplaintState


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _complaint(
    conn: Connection, reference: str, *, received: datetime, due: datetime, path: list[S]
) -> int:
    complaint_id = stored.register(
        conn, reference, received_at=received, due_at=due,
        customer_email=f"{reference.lower()}@example.com", customer_name="",
        subject=f"About {reference}")
    stored.walk(conn, complaint_id, path, now=received)
    return complaint_id


@pytest.fixture
def populated(engine: Engine) -> Engine:
    day = timedelta(days=1)
    with write_transaction(engine) as conn:
        _complaint(conn, "LATE-1", received=NOW - 9 * day, due=NOW - day, path=[S.ACKNOWLEDGED])
        _complaint(conn, "FRESH-2", received=NOW - day, due=NOW + 4 * day, path=[])
        _complaint(
            conn,
            "DONE-3",
            received=NOW - 8 * day,
            due=NOW - 2 * day,
            path=[S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED],
        )
    return engine


@pytest.mark.parametrize(
    ("state", "overdue", "expected"),
    [
        (None, False, ["LATE-1", "DONE-3", "FRESH-2"]),
        (None, True, ["LATE-1"]),
        ("acknowledged", False, ["LATE-1"]),
        ("resolved", False, ["DONE-3"]),
        ("resolved", True, []),
        ("closed", False, []),
    ],
)
def test_list_filters_by_state_and_overdue_oldest_first(
    populated: Engine, state: str | None, overdue: bool, expected: list[str]
) -> None:
    with transaction(populated) as session:
        found = queries.list_complaints(session, state=state, overdue=overdue, now=NOW)
    assert [c.reference for c in found] == expected


def test_show_gathers_messages_letters_and_events_in_order(populated: Engine) -> None:
    with write_transaction(populated) as conn:
        late = rows.complaint_by_reference(conn, "LATE-1")
        assert late is not None
        _, queued = outbox_rows.queue_letter(
            conn,
            complaint_id=late.id,
            kind="holding",
            to_email=late.customer_email,
            message_id="<h1@acme.example>",
            subject="Re: About LATE-1",
            raw=b"x",
            automatic=True,
            now=NOW,
        )
        with Journal(conn) as journal:
            journal.record(queued)
    with transaction(populated) as session:
        detail = queries.complaint_detail(session, "LATE-1")
        missing = queries.complaint_detail(session, "NOPE-0")
    assert detail is not None
    assert missing is None
    complaint, incoming, letters, events = detail
    assert complaint.reference == "LATE-1"
    assert [m.sha256 for m in incoming] == ["LATE-1"]
    assert [letter.message_id for letter in letters] == ["<h1@acme.example>"]
    assert [e.kind for e in events] == ["registered", "state_changed", "letter_queued"]


def test_stats_count_every_outcome_state_and_letter_state_even_when_zero(
    populated: Engine,
) -> None:
    with write_transaction(populated) as conn:
        original = stored.message(conn, sha256="dup", received_at=NOW)
        stored.message(
            conn,
            sha256="dup",
            outcome=Outcome.DUPLICATE.value,
            duplicate_of=original,
            received_at=NOW,
        )
    with transaction(populated) as session:
        by_outcome = queries.outcome_counts(session)
        by_state = queries.state_counts(session)
        by_letter = queries.letters_by_state(session)
    assert by_outcome == {
        "complaint": 4,
        "follow_up": 0,
        "not_complaint": 0,
        "quarantined": 0,
        "approval_reply": 0,
        "duplicate": 1,
    }
    assert by_state == {
        "received": 1,
        "acknowledged": 1,
        "in_progress": 0,
        "awaiting_approval": 0,
        "resolved": 1,
        "closed": 0,
    }
    assert by_letter == {state.value: 0 for state in LetterState}


def test_time_to_holding_reply_uses_the_first_sent_holding_letter(populated: Engine) -> None:
    with write_transaction(populated) as conn:
        fresh = rows.complaint_by_reference(conn, "FRESH-2")
        late = rows.complaint_by_reference(conn, "LATE-1")
        assert fresh is not None
        assert late is not None
        received = {fresh.id: NOW - timedelta(days=1), late.id: NOW - timedelta(days=9)}
        for n, complaint in enumerate((fresh, late)):
            outbox_rows.queue_letter(
                conn,
                complaint_id=complaint.id,
                kind="holding",
                to_email=complaint.customer_email,
                message_id=f"<h{n}@acme.example>",
                subject="Re",
                raw=b"x",
                automatic=True,
                now=received[complaint.id],
            )
            if complaint is fresh:
                # Claimed before LATE-1's letter is queued; SMTP takes it 1.5 s later.
                [letter] = letter_claims.claim_letters(conn, now=received[fresh.id], limit=1,
                                                       lease=timedelta(minutes=5))
                letter_fates.record_sent(conn, letter,
                                         now=received[fresh.id] + timedelta(seconds=1.5))
    with transaction(populated) as session:
        delays = queries.holding_reply_delays(session)
        by_letter = queries.letters_by_state(session)
    assert delays == [1.5]
    assert by_letter["sent"] == 1
    assert by_letter["queued"] == 1
