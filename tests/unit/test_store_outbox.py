"""The outbox queue: claiming, leases, back-off, giving up, and the rate-limit count."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import LetterState
from triaged.store import complaints, outbox, outbox_rows
from triaged.store.db import make_engine, transaction
from triaged.store.models import Event, OutboxLetter

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


def _enqueue(
    session: Session,
    n: int,
    *,
    to: str = "ana@example.com",
    automatic: bool = True,
    at: datetime = NOW,
) -> OutboxLetter:
    return outbox.enqueue(
        session,
        complaint_id=None,
        kind="holding",
        to_email=to,
        message_id=f"<letter-{n}@acme.example>",
        subject=f"Re: complaint {n}",
        raw=b"From: support@acme.example\r\n\r\nhello\r\n",
        automatic=automatic,
        now=at,
    )


def _fill(engine: Engine, count: int) -> None:
    with transaction(engine) as session:
        for n in range(count):
            _enqueue(session, n)


def _fill_url(url: str, count: int) -> None:
    engine = make_engine(url)
    _fill(engine, count)
    engine.dispose()


def test_claimed_letters_are_sending_leased_and_detached(engine: Engine) -> None:
    _fill(engine, 3)
    claimed = outbox.claim_due(engine, now=NOW, limit=2, lease=LEASE)
    assert [c.message_id for c in claimed] == ["<letter-0@acme.example>", "<letter-1@acme.example>"]
    assert {c.state for c in claimed} == {LetterState.SENDING.value}
    assert {c.next_attempt_at for c in claimed} == {NOW + LEASE}
    assert claimed[0].raw.startswith(b"From:")
    rest = outbox.claim_due(engine, now=NOW, limit=10, lease=LEASE)
    assert [c.message_id for c in rest] == ["<letter-2@acme.example>"]
    assert outbox.claim_due(engine, now=NOW, limit=10, lease=LEASE) == []


def test_letters_not_yet_due_are_not_claimed(engine: Engine) -> None:
    with transaction(engine) as session:
        _enqueue(session, 1, at=NOW + timedelta(seconds=1))
    assert outbox.claim_due(engine, now=NOW, limit=10, lease=LEASE) == []
    assert len(outbox.claim_due(engine, now=NOW + timedelta(seconds=1), limit=10, lease=LEASE)) == 1


def test_two_senders_claiming_in_turn_never_get_the_same_letter(url: str) -> None:
    _fill_url(url, 20)
    first, second = make_engine(url), make_engine(url)
    seen: list[int] = []
    for turn in range(12):
        claimer = first if turn % 2 == 0 else second
        seen += [c.id for c in outbox.claim_due(claimer, now=NOW, limit=2, lease=LEASE) if c.id]
    first.dispose()
    second.dispose()
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 20


def test_senders_claiming_at_the_same_time_never_get_the_same_letter(url: str) -> None:
    _fill_url(url, 200)
    claims: list[list[int]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def sender(index: int) -> None:
        engine = make_engine(url)
        start.wait()
        while batch := outbox.claim_due(engine, now=NOW, limit=3, lease=LEASE):
            claims[index] += [c.id for c in batch if c.id is not None]
        engine.dispose()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [letter for claim in claims for letter in claim]
    assert len(everything) == len(set(everything)) == 200


def test_a_crashed_senders_letter_is_claimed_again_after_its_lease(engine: Engine) -> None:
    _fill(engine, 1)
    [taken] = outbox.claim_due(engine, now=NOW, limit=1, lease=LEASE)
    just_before = NOW + LEASE - timedelta(seconds=1)
    assert outbox.claim_due(engine, now=just_before, limit=1, lease=LEASE) == []
    [again] = outbox.claim_due(engine, now=NOW + LEASE, limit=1, lease=LEASE)
    assert again.id == taken.id
    assert again.next_attempt_at == NOW + LEASE + LEASE


def test_a_sent_letter_is_never_claimed_again(engine: Engine) -> None:
    _fill(engine, 1)
    [taken] = outbox.claim_due(engine, now=NOW, limit=1, lease=LEASE)
    assert taken.id is not None
    with transaction(engine) as session:
        outbox.mark_sent(session, taken.id, now=NOW + timedelta(seconds=2))
    assert outbox.claim_due(engine, now=NOW + timedelta(days=1), limit=1, lease=LEASE) == []
    with transaction(engine) as session:
        letter = session.get(OutboxLetter, taken.id)
    assert letter is not None
    assert letter.state == "sent"
    assert letter.sent_at == NOW + timedelta(seconds=2)
    assert letter.attempts == 1


@pytest.mark.parametrize(
    ("attempts", "base_seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (30, 3600)],
)
@pytest.mark.parametrize("letter_id", [1, 2, 977])
def test_back_off_doubles_from_30_seconds_up_to_an_hour_with_a_little_jitter(
    attempts: int, base_seconds: int, letter_id: int
) -> None:
    delay = outbox.backoff_delay(attempts, letter_id).total_seconds()
    assert base_seconds <= delay <= base_seconds * 1.1


def test_back_off_spreads_letters_that_failed_together() -> None:
    delays = {outbox.backoff_delay(3, letter_id) for letter_id in range(1, 51)}
    assert len(delays) > 25


def _fail(engine: Engine, letter_id: int, at: datetime, *, permanent: bool = False) -> str:
    with transaction(engine) as session:
        return outbox.mark_failed(
            session, letter_id, now=at, error="451 try later", permanent=permanent, max_attempts=3
        )


def test_temporary_failures_retry_later_until_max_attempts_then_fail(engine: Engine) -> None:
    _fill(engine, 1)
    clock = NOW
    states = []
    for _ in range(3):
        [letter] = outbox.claim_due(engine, now=clock, limit=1, lease=LEASE)
        assert letter.id is not None
        states.append(_fail(engine, letter.id, clock))
        with transaction(engine) as session:
            stored = session.get(OutboxLetter, letter.id)
        assert stored is not None
        if stored.state == "queued":
            assert stored.next_attempt_at > clock
            assert outbox.claim_due(engine, now=clock, limit=1, lease=LEASE) == []
            clock = stored.next_attempt_at
    assert states == [LetterState.QUEUED, LetterState.QUEUED, LetterState.FAILED]
    assert stored is not None
    assert stored.attempts == 3
    assert stored.last_error == "451 try later"
    assert outbox.claim_due(engine, now=clock + timedelta(days=30), limit=1, lease=LEASE) == []


def test_a_permanent_failure_fails_at_once_and_is_logged(engine: Engine) -> None:
    with transaction(engine) as session:
        complaint = complaints.register(
            session,
            reference="K7M-Q3X9",
            mailbox="support",
            customer_email="ana@example.com",
            customer_name="Ana",
            subject="Broken oven",
            language="en",
            received_at=NOW,
            due_at=NOW + timedelta(days=5),
            message_row=None,
            now=NOW,
        )
        letter = outbox.enqueue(
            session,
            complaint_id=complaint.id,
            kind="holding",
            to_email="ana@example.com",
            message_id="<m@acme.example>",
            subject="Re: Broken oven",
            raw=b"x",
            automatic=True,
            now=NOW,
        )
    assert letter.id is not None
    outbox.claim_due(engine, now=NOW, limit=1, lease=LEASE)
    assert _fail(engine, letter.id, NOW, permanent=True) == LetterState.FAILED
    with transaction(engine) as session:
        kinds = session.exec(
            select(Event.kind).where(Event.complaint_id == complaint.id).order_by(col(Event.id))
        ).all()
    assert kinds == ["registered", "letter_queued", "letter_failed"]


def test_rate_limit_counts_recent_automatic_letters_to_the_mailbox_whatever_became_of_them(
    engine: Engine,
) -> None:
    day_ago = NOW - timedelta(hours=24)
    with transaction(engine) as session:
        _enqueue(session, 1, to="Robot@Example.com")
        _enqueue(session, 2, to="robot+2@example.com")
        _enqueue(session, 3, to="robot@example.com", automatic=False)
        _enqueue(session, 4, to="robot@example.com", at=day_ago - timedelta(seconds=1))
        _enqueue(session, 5, to="other@example.com")
        failed = _enqueue(session, 6, to="robot@example.com")
        assert failed.id is not None
        outbox.mark_failed(session, failed.id, now=NOW, error="550", permanent=True, max_attempts=5)
    with transaction(engine) as session:
        count = outbox_rows.automatic_letters_since(session.connection(),
                                                    mailbox_key("ROBOT@example.COM"), day_ago)
    # The failed letter was written all the same: it counts.
    assert count == 3
