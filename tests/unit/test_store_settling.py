"""The satisfaction scan's rows: several instances scanning at once ask a customer once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine

from tests import stored
from triaged.domain.records import ComplaintState
from triaged.store import approval_rows, letter_claims, letter_fates, outbox_rows
from triaged.store.db import make_engine, write_transaction

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _letter(conn: Connection, complaint_id: int, kind: str, n: int) -> int:
    letter_id, _ = outbox_rows.queue_letter(
        conn, complaint_id=complaint_id, kind=kind, to_email="ana@example.com",
        message_id=f"<{kind}-{n}@acme.example>", subject="Re: cake", raw=b"x",
        automatic=True, now=NOW)
    return letter_id


def _resolved_with_final_sent(engine: Engine) -> int:
    with write_transaction(engine) as conn:
        complaint_id = stored.register(conn, "K7M-Q3X9", received_at=NOW,
                                       due_at=NOW + timedelta(days=2), subject="cake",
                                       with_message=False)
        stored.walk(conn, complaint_id, [ComplaintState.IN_PROGRESS,
                                         ComplaintState.AWAITING_APPROVAL,
                                         ComplaintState.RESOLVED], now=NOW)
        _letter(conn, complaint_id, "final", 1)
        [final] = letter_claims.claim_letters(conn, now=NOW, limit=1, lease=timedelta(minutes=5))
        letter_fates.record_sent(conn, final, now=NOW)
    return complaint_id


def test_a_resolved_complaint_with_its_final_letter_sent_is_settling(engine: Engine) -> None:
    complaint_id = _resolved_with_final_sent(engine)
    with write_transaction(engine) as conn:
        [listed] = approval_rows.resolved_complaints(conn)
        one = approval_rows.settling_of(conn, complaint_id)
        assert approval_rows.settling_of(conn, complaint_id + 1) is None
    assert one == listed
    assert (listed.final_sent_at, listed.check_queued) == (NOW, False)


def test_a_second_scan_at_the_same_time_waits_and_sees_the_check_the_first_queued(
    db_url: str, engine: Engine
) -> None:
    complaint_id = _resolved_with_final_sent(engine)
    other = make_engine(db_url)
    seen: list[bool] = []

    def other_instance() -> None:
        with write_transaction(other) as conn:
            found = approval_rows.settling_of(conn, complaint_id)
            assert found is not None
            seen.append(found.check_queued)

    with write_transaction(engine) as conn:
        found = approval_rows.settling_of(conn, complaint_id)
        assert found is not None
        assert not found.check_queued
        _letter(conn, complaint_id, "satisfaction", 2)
        scan = threading.Thread(target=other_instance)
        scan.start()
        scan.join(0.5)
        assert scan.is_alive(), "the second scan did not wait for the first"
    scan.join(10)
    other.dispose()
    assert seen == [True]
