"""The store's rows (`store.rows`, `store.outbox_rows`, `store.quarantine_rows`): duplicates,
the rate limit, claims that never overlap, one event per state change, aware UTC."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine
from sqlmodel import col, select

from tests.support.statements import statements_sent
from triaged.domain.errors import ForbiddenMove
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import ComplaintRef, ComplaintState, LetterState, Outcome
from triaged.store import (
    automatic_letters,
    letter_claims,
    letter_fates,
    outbox_rows,
    quarantine_rows,
    rows,
)
from triaged.store.db import (
    make_engine,
    savepoint,
    transaction,
    write_transaction,
    writer,
)
from triaged.store.journal import Journal
from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter
from triaged.store.ownership import lock_until_commit

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


@pytest.fixture
def url(db_url: str) -> str:
    return db_url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _message(conn: Connection, **overrides: Any) -> int:
    fields: dict[str, Any] = {
        "mailbox": "support", "folder": "INBOX", "uidvalidity": 7, "uid": 1,
        "message_id": "<m1@example.com>", "sha256": "hash-1", "raw": b"raw", "size": 3,
        "sender": "Ana@Example.com", "subject": "cake", "sent_date": NOW, "text": "crushed",
        "outcome": "complaint", "rule": "complaint", "received_at": NOW,
    }
    fields.update(overrides)
    fields["outcome"] = Outcome(fields["outcome"])
    return rows.insert_message(conn, rows.IncomingRow(**fields))


def _complaint(
    conn: Connection, reference: str = "K7M-Q3X9", email: str = "ana@example.com"
) -> int:
    found = rows.insert_complaint(conn, rows.NewComplaintRow(
        reference=reference, mailbox="support", customer_email=email, customer_name="Ana",
        subject="cake", language="en", received_at=NOW, due_at=NOW + timedelta(days=2), now=NOW))
    assert found is not None
    return found


def _letter(conn: Connection, n: int, complaint_id: int | None, *, to: str = "ana@example.com",
            at: datetime = NOW, automatic: bool = True) -> int:
    letter_id, queued = outbox_rows.queue_letter(
        conn, complaint_id=complaint_id, kind="holding", to_email=to,
        message_id=f"<letter-{n}.triaged@acme.example>", subject="Re: cake",
        raw=b"From: Acme <support@acme.example>\r\n\r\nhello\r\n", automatic=automatic, now=at,
    )
    with Journal(conn) as journal:
        journal.record(queued)
    return letter_id


PROBES = [
    # (what differs from the stored message, is it a duplicate?)
    ({"sha256": "hash-1", "message_id": "<other@x>"}, True),
    ({"sha256": "hash-2", "sender": "ana@example.com"}, True),
    ({"sha256": "hash-2", "text": "something else"}, False),
    ({"sha256": "hash-2", "sent_date": NOW + timedelta(minutes=1)}, False),
    ({"sha256": "hash-2", "sender": "bob@example.com"}, False),
    ({"sha256": "hash-2", "message_id": ""}, False),
]


def _probe(change: dict[str, Any]) -> dict[str, Any]:
    """The first stored message's fields, with `change` made."""
    return {"sha256": "hash-1", "message_id": "<m1@example.com>", "sender": "Ana@Example.com",
            "sent_date": NOW, "text": "crushed", **change}


@pytest.mark.parametrize(("change", "duplicate"), PROBES)
def test_duplicates_are_found_inside_one_transaction(
    engine: Engine, change: dict[str, Any], duplicate: bool
) -> None:
    probe = _probe(change)
    with write_transaction(engine) as conn:
        original = _message(conn)
        found = rows.duplicate_of(conn, **probe)
    assert found == (original if duplicate else None)


@pytest.mark.parametrize(("change", "duplicate"), PROBES)
def test_a_batch_s_originals_read_ahead_are_those_the_database_would_give(
    engine: Engine, change: dict[str, Any], duplicate: bool
) -> None:
    probe = _probe(change)
    with write_transaction(engine) as conn:
        stored = _message(conn)
    with write_transaction(engine) as conn:
        rows.read_originals_ahead(conn, [(probe["sha256"], probe["message_id"]),
                                         ("hash-3", "<m3@example.com>")])
        found = rows.duplicate_of(conn, **probe)
        in_batch = _message(conn, sha256="hash-3", message_id="<m3@example.com>", uid=3)
        copy = rows.duplicate_of(conn, sha256="other", message_id="<m3@example.com>",
                                 sender="ana@example.com", sent_date=NOW, text="crushed")
    assert found == (stored if duplicate else None)
    assert copy == in_batch


def _stored_then_failed(conn: Connection) -> None:
    with savepoint(conn):
        _message(conn)
        raise RuntimeError("a bug in this message's handling")


def test_a_row_of_a_rolled_back_savepoint_is_no_original_even_read_ahead(
    engine: Engine,
) -> None:
    with write_transaction(engine) as conn:
        rows.read_originals_ahead(conn, [("hash-1", "<m1@example.com>")])
        with pytest.raises(RuntimeError, match="bug"):
            _stored_then_failed(conn)
        assert rows.duplicate_of(conn, sha256="hash-1", message_id="", sender="",
                                 sent_date=None, text="") is None
        original = _message(conn, uid=2)
        assert rows.duplicate_of(conn, sha256="hash-1", message_id="", sender="",
                                 sent_date=None, text="") == original


def _originals_found_with_statements(engine: Engine) -> tuple[list[int | None], list[str]]:
    """Five messages of a batch looked up after their originals were read ahead: what
    each duplicates, and the statements that cost."""
    copies = [(f"hash-{n}", f"<m{n}@example.com>") for n in range(1, 6)]
    with write_transaction(engine) as conn:
        _message(conn)
    with write_transaction(engine) as conn:
        lock_until_commit(conn, *(rows.mail_lock(mid, sha) for sha, mid in copies))
        sent = statements_sent(engine)
        rows.read_originals_ahead(conn, copies)
        found = [rows.duplicate_of(conn, sha256=sha, message_id=mid, sender="",
                                   sent_date=None, text="") for sha, mid in copies]
    return found, sent


@pytest.mark.postgres
def test_on_postgresql_a_batch_reads_its_originals_in_one_statement(
    new_pg_database: Any,
) -> None:
    engine = make_engine(new_pg_database())
    try:
        found, sent = _originals_found_with_statements(engine)
    finally:
        engine.dispose()
    # Each statement is a round trip to the server: one for the batch, not one per message.
    assert found == [1, None, None, None, None]
    assert len(sent) == 1, sent


def test_on_sqlite_a_batch_reads_its_originals_in_one_statement(engine: Engine) -> None:
    found, sent = _originals_found_with_statements(engine)
    # A statement per message is intake's own time on the single writer.
    assert found == [1, None, None, None, None]
    assert len(sent) == 1, sent


def test_a_duplicate_row_is_never_taken_for_the_original(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        original = _message(conn)
        _message(conn, raw=None, outcome="duplicate", duplicate_of=original, uid=2)
        assert rows.duplicate_of(conn, sha256="hash-1", message_id="", sender="",
                                 sent_date=None, text="") == original


def test_a_taken_reference_comes_back_as_none_and_changes_nothing(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        first = _complaint(conn)
        again = rows.insert_complaint(conn, rows.NewComplaintRow(
            reference="K7M-Q3X9", mailbox="other", customer_email="bob@example.com",
            customer_name="", subject="", language="en", received_at=NOW, due_at=NOW, now=NOW))
    with transaction(engine) as session:
        stored = session.exec(select(Complaint)).all()
    assert again is None
    assert [(c.id, c.customer_email) for c in stored] == [(first, "ana@example.com")]
    assert stored[0].received_at == NOW
    assert stored[0].received_at.tzinfo is not None


def _opening(reference: str, email: str, uid: int) -> tuple[rows.NewComplaintRow,
                                                              rows.IncomingRow]:
    complaint = rows.NewComplaintRow(
        reference=reference, mailbox="support", customer_email=email, customer_name="",
        subject="cake", language="en", received_at=NOW, due_at=NOW + timedelta(days=2),
        now=NOW)
    message = rows.IncomingRow(
        mailbox="support", folder="INBOX", uidvalidity=7, uid=uid, sha256=f"hash-{uid}",
        raw=b"raw", size=3, outcome=Outcome.COMPLAINT, rule="complaint", received_at=NOW,
        sender=email, sent_date=NOW)
    return complaint, message


def test_a_complaint_opens_with_its_message_and_a_taken_reference_writes_neither(
    engine: Engine,
) -> None:
    with write_transaction(engine) as conn:
        opened = rows.insert_complaint_with_message(
            conn, *_opening("K7M-Q3X9", "ana@example.com", 1))
        again = rows.insert_complaint_with_message(
            conn, *_opening("K7M-Q3X9", "bob@example.com", 2))
    with transaction(engine) as session:
        complaints = session.exec(select(Complaint)).all()
        messages = session.exec(select(MessageRow)).all()
    assert opened is not None
    assert again is None
    assert [(c.id, c.customer_email) for c in complaints] == [(opened[0], "ana@example.com")]
    assert [(m.id, m.complaint_id, m.uid, m.sender) for m in messages] == [
        (opened[1], opened[0], 1, "ana@example.com")]
    assert messages[0].sent_date == complaints[0].received_at == NOW


@pytest.mark.postgres
def test_on_postgresql_a_complaint_opens_with_its_message_in_one_statement(
    new_pg_database: Any,
) -> None:
    engine = make_engine(new_pg_database())
    sent = statements_sent(engine)
    try:
        with write_transaction(engine) as conn:
            opened = rows.insert_complaint_with_message(
                conn, *_opening("K7M-Q3X9", "ana@example.com", 1))
    finally:
        engine.dispose()
    # Each statement is a round trip to the server, paid once per new complaint.
    assert opened is not None
    assert len(sent) == 1, sent


@pytest.mark.parametrize(
    ("read_as", "to", "moved"),
    [
        (ComplaintState.RECEIVED, ComplaintState.ACKNOWLEDGED, True),
        (ComplaintState.ACKNOWLEDGED, ComplaintState.IN_PROGRESS, False),  # stale read
    ],
)
def test_a_state_change_is_conditional_and_always_logged(
    engine: Engine, read_as: ComplaintState, to: ComplaintState, moved: bool
) -> None:
    with write_transaction(engine) as conn:
        complaint_id = _complaint(conn)
        ref = ComplaintRef(complaint_id, "K7M-Q3X9", read_as, "ana@example.com")
        change = rows.set_state(conn, ref, to, now=NOW, actor="staff", detail={"why": "test"})
        with Journal(conn) as journal:
            journal.record(change)
    with transaction(engine) as session:
        state = session.get(Complaint, complaint_id)
        events = session.exec(select(Event)).all()
    assert state is not None
    assert state.state == (to.value if moved else ComplaintState.RECEIVED.value)
    assert [json.loads(e.detail) for e in events] == (
        [{"why": "test", "from": read_as.value, "to": to.value}] if moved else [])


def test_a_move_the_lifecycle_forbids_raises_and_writes_nothing(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        complaint_id = _complaint(conn)
        ref = ComplaintRef(complaint_id, "K7M-Q3X9", ComplaintState.RECEIVED,
                                "ana@example.com")
        with pytest.raises(ForbiddenMove, match="received to closed"):
            rows.set_state(conn, ref, ComplaintState.CLOSED, now=NOW, actor="staff")


def test_rate_limit_count_sees_letters_queued_earlier_in_the_same_transaction(
    engine: Engine,
) -> None:
    since = NOW - timedelta(hours=24)
    key = mailbox_key("ANA@example.com")
    counts = []
    with write_transaction(engine) as conn:
        complaint_id = _complaint(conn)
        _letter(conn, 0, complaint_id, at=NOW - timedelta(hours=25))  # outside the window
        _letter(conn, 1, complaint_id, automatic=False)  # written by staff: not counted
        for n, spelling in zip(range(2, 5), ("Ana@Example.com", "ana+1@example.com",
                                             "ANA+shop@example.com"), strict=True):
            counts.append(automatic_letters.automatic_letters_since(conn, key, since))
            _letter(conn, n, complaint_id, to=spelling)
        counts.append(automatic_letters.automatic_letters_since(conn, key, since))
    assert counts == [0, 1, 2, 3]


def test_failed_letters_still_count_against_the_mailbox(engine: Engine) -> None:
    since = NOW - timedelta(hours=24)
    with write_transaction(engine) as conn:
        complaint_id = _complaint(conn)
        failed = _letter(conn, 1, complaint_id)
        outbox_rows.fail_letter(conn, failed, error="bounce: 5.2.2 mailbox full", now=NOW)
        _letter(conn, 2, complaint_id)
        count = automatic_letters.automatic_letters_since(conn, mailbox_key("ana@example.com"),
                                                          since)
    assert count == 2


def test_a_queued_letter_logs_letter_queued_with_the_letters_fields(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        complaint_id = _complaint(conn)
        core_id = _letter(conn, 1, complaint_id)
        _, no_event = outbox_rows.queue_letter(
            conn, complaint_id=complaint_id, kind="staff_notice", to_email="team@acme.example",
            message_id="<held.triaged@acme.example>", subject="New complaint", raw=b"x",
            automatic=True, now=NOW, state=LetterState.HELD)
    with transaction(engine) as session:
        events = session.exec(select(Event).order_by(col(Event.id))).all()
    details = [json.loads(e.detail) for e in events]
    assert [e.kind for e in events] == ["letter_queued"]
    assert details[0] == {"letter_id": core_id, "kind": "holding", "to": "ana@example.com",
                          "message_id": "<letter-1.triaged@acme.example>", "automatic": True}
    assert no_event is None, "a held notice is logged by its caller, with why it was held"


def _fill(engine: Engine, count: int) -> int:
    with write_transaction(engine) as conn:
        complaint_id = _complaint(conn)
        for n in range(count):
            _letter(conn, n, complaint_id)
    return complaint_id


def _claim(engine: Engine, *, now: datetime = NOW, limit: int = 10) -> list[int]:
    with write_transaction(engine) as conn:
        return [c.id for c in letter_claims.claim_letters(conn, now=now, limit=limit, lease=LEASE)]


def test_claims_lease_letters_oldest_first_and_hand_them_out_again_after_the_lease(
    engine: Engine,
) -> None:
    _fill(engine, 3)
    first = _claim(engine, limit=2)
    rest = _claim(engine)
    assert _claim(engine, now=NOW + LEASE - timedelta(seconds=1)) == []
    again = _claim(engine, now=NOW + LEASE)
    assert first == [1, 2]
    assert rest == [3]
    assert again == [1, 2, 3]


def test_senders_claiming_at_the_same_time_never_get_the_same_letter(url: str) -> None:
    engine = make_engine(url)
    _fill(engine, 200)
    engine.dispose()
    claims: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def sender(index: int) -> None:
        own = make_engine(url)
        start.wait()
        while batch := _claim(own, limit=3):
            claims[index] += batch
        own.dispose()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [letter for claim in claims for letter in claim]
    assert len(everything) == len(set(everything)) == 200


def test_a_recorded_delivery_acknowledges_the_complaint_once(url: str, engine: Engine) -> None:
    complaint_id = _fill(engine, 1)
    with writer(engine) as conn:
        with conn.begin():
            [letter] = letter_claims.claim_letters(conn, now=NOW, limit=1, lease=LEASE)
        with conn.begin():
            acknowledged = letter_fates.record_sent(conn, letter, now=NOW + timedelta(seconds=2))
        with conn.begin():
            again = letter_fates.record_sent(conn, letter, now=NOW + timedelta(seconds=3))
    with transaction(engine) as session:
        stored = session.get(OutboxLetter, letter.id)
        complaint = session.get(Complaint, complaint_id)
        events = session.exec(select(Event).order_by(col(Event.id))).all()
    assert stored is not None
    assert complaint is not None
    assert (acknowledged, again) == (True, False)
    assert stored.state == LetterState.SENT.value
    assert stored.attempts == 2
    assert stored.sent_at == NOW + timedelta(seconds=3)
    assert stored.sent_at is not None
    assert stored.sent_at.tzinfo is not None
    assert complaint.state == ComplaintState.ACKNOWLEDGED.value
    assert [(e.kind, e.actor) for e in events] == [
        ("letter_queued", "system"), ("letter_sent", "system"), ("state_changed", "system"),
        ("letter_sent", "system")]
    sent = json.loads(events[1].detail)
    changed = json.loads(events[2].detail)
    assert sent == {"letter_id": letter.id, "kind": "holding", "to": "ana@example.com",
                    "message_id": letter.message_id, "automatic": True, "attempts": 1}
    assert changed == {"letter": letter.message_id, "from": "received", "to": "acknowledged"}
    assert all(e.at.tzinfo is not None for e in events)


@pytest.mark.postgres
def test_on_postgresql_a_delivery_is_recorded_in_one_statement(new_pg_database: Any) -> None:
    engine = make_engine(new_pg_database())
    _fill(engine, 1)
    try:
        with writer(engine) as conn:
            with conn.begin():
                [letter] = letter_claims.claim_letters(conn, now=NOW, limit=1, lease=LEASE)
            sent = statements_sent(engine)
            with conn.begin():
                acknowledged = letter_fates.record_sent(conn, letter, now=NOW)
    finally:
        engine.dispose()
    # The letter's mark, the complaint's move and both events: each statement is a
    # round trip to the server, paid once per letter sent.
    assert acknowledged
    assert len(sent) == 1, sent


def test_quarantined_messages_are_stored_whole_and_parked(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        row_id = _message(conn, outcome="quarantined", rule="unparseable", reason="no sender",
                          message_id="", sender="", sent_date=None)
        quarantine_rows.insert_quarantine(conn, row_id, "no sender", NOW)
    with transaction(engine) as session:
        [parked] = quarantine_rows.list_quarantine(session.connection())
        stored = session.get(MessageRow, row_id)
    assert (parked.reason, parked.state, parked.message_row_id) == ("no sender", "open", row_id)
    assert stored is not None
    assert stored.raw == b"raw"


def _write_then_fail(conn: Connection) -> None:
    with savepoint(conn):
        _message(conn, sha256="undone", uid=2)
        raise RuntimeError("bug while handling one message")


def test_a_savepoint_undoes_only_its_own_writes_and_lets_the_error_through(
    engine: Engine,
) -> None:
    with write_transaction(engine) as conn:
        kept = _message(conn, sha256="kept")
        with pytest.raises(RuntimeError, match="bug"):
            _write_then_fail(conn)
        with savepoint(conn):
            also_kept = _message(conn, sha256="also kept", uid=3)
    with transaction(engine) as session:
        stored = session.exec(select(MessageRow.id, MessageRow.sha256)).all()
    assert sorted(stored) == [(kept, "kept"), (also_kept, "also kept")]


def test_a_copy_read_by_another_transaction_at_the_same_time_waits_and_is_a_duplicate(
    url: str, engine: Engine
) -> None:
    # A customer wrote to two of our mailboxes; both are read at once. The copies
    # differ in their bytes (delivery headers) but not in Message-ID, sender, date, text.
    copy: dict[str, Any] = {"message_id": "<m1@example.com>", "sender": "Ana@Example.com",
                            "sent_date": NOW, "text": "crushed"}
    other = make_engine(url)
    found: list[int | None] = []

    def other_mailbox() -> None:
        with write_transaction(other) as conn:
            found.append(rows.duplicate_of(conn, sha256="copy-2", **copy))

    with write_transaction(engine) as conn:
        assert rows.duplicate_of(conn, sha256="copy-1", **copy) is None
        original = _message(conn, sha256="copy-1")
        reader = threading.Thread(target=other_mailbox)
        reader.start()
        reader.join(0.5)
        assert reader.is_alive(), "the second reader did not wait for the first to commit"
    reader.join(10)
    other.dispose()
    assert found == [original]


def test_a_letter_queued_by_another_transaction_at_the_same_time_counts_against_the_limit(
    url: str, engine: Engine
) -> None:
    # Two mailboxes answer the same address at once: the second must count the
    # first's letter, or each could send the last one the limit allows.
    since = NOW - timedelta(hours=24)
    other = make_engine(url)
    counted: list[int] = []

    def other_mailbox() -> None:
        with write_transaction(other) as conn:
            counted.append(
                automatic_letters.automatic_letters_since(conn, "ana@example.com", since))

    with write_transaction(engine) as conn:
        assert automatic_letters.automatic_letters_since(conn, "ana@example.com", since) == 0
        _letter(conn, 1, _complaint(conn))
        reader = threading.Thread(target=other_mailbox)
        reader.start()
        reader.join(0.5)
        assert reader.is_alive(), "the second count did not wait for the first letter"
    reader.join(10)
    other.dispose()
    assert counted == [1]
