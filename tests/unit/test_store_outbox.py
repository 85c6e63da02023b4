"""The outbox queue: claiming, leases, back-off, giving up, and the rate-limit count."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from sqlmodel import col, select

from tests import stored
from triaged.adapters.smtp import MaildirTransport
from triaged.domain.clock import FixedClock
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import LetterState
from triaged.store import automatic_letters, letter_claims, letter_fates, outbox_rows, suppression
from triaged.store.db import make_engine, transaction, write_transaction
from triaged.store.journal import Journal
from triaged.store.letter_claims import ClaimedLetter
from triaged.store.models import Event, OutboxLetter
from triaged.usecases.sender import SUPPRESSED, Sender

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
    conn: Connection,
    n: int,
    *,
    to: str = "ana@example.com",
    automatic: bool = True,
    at: datetime = NOW,
    complaint_id: int | None = None,
) -> int:
    letter_id, queued = outbox_rows.queue_letter(
        conn,
        complaint_id=complaint_id,
        kind="holding",
        to_email=to,
        message_id=f"<letter-{n}@acme.example>",
        subject=f"Re: complaint {n}",
        raw=b"From: support@acme.example\r\n\r\nhello\r\n",
        automatic=automatic,
        now=at,
    )
    with Journal(conn) as journal:
        journal.record(queued)
    return letter_id


def _fill(engine: Engine, count: int) -> None:
    with write_transaction(engine) as conn:
        for n in range(count):
            _enqueue(conn, n)


def _fill_url(url: str, count: int) -> None:
    engine = make_engine(url)
    _fill(engine, count)
    engine.dispose()


def _claim(engine: Engine, *, now: datetime, limit: int) -> list[ClaimedLetter]:
    """One sender's claim, committed in its own transaction (as the sender claims)."""
    with write_transaction(engine) as conn:
        return letter_claims.claim_letters(conn, now=now, limit=limit, lease=LEASE)


def _stored(engine: Engine, letter_id: int) -> OutboxLetter:
    with transaction(engine) as session:
        letter = session.get(OutboxLetter, letter_id)
    assert letter is not None
    return letter


def test_claimed_letters_are_sending_and_leased(engine: Engine) -> None:
    _fill(engine, 3)
    claimed = _claim(engine, now=NOW, limit=2)
    assert [c.message_id for c in claimed] == ["<letter-0@acme.example>", "<letter-1@acme.example>"]
    leased = [_stored(engine, c.id) for c in claimed]
    assert {c.state for c in leased} == {LetterState.SENDING.value}
    assert {c.next_attempt_at for c in leased} == {NOW + LEASE}
    assert claimed[0].raw.startswith(b"From:")
    rest = _claim(engine, now=NOW, limit=10)
    assert [c.message_id for c in rest] == ["<letter-2@acme.example>"]
    assert _claim(engine, now=NOW, limit=10) == []


def test_letters_not_yet_due_are_not_claimed(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        _enqueue(conn, 1, at=NOW + timedelta(seconds=1))
    assert _claim(engine, now=NOW, limit=10) == []
    assert len(_claim(engine, now=NOW + timedelta(seconds=1), limit=10)) == 1


def test_two_senders_claiming_in_turn_never_get_the_same_letter(url: str) -> None:
    _fill_url(url, 20)
    first, second = make_engine(url), make_engine(url)
    seen: list[int] = []
    for turn in range(12):
        claimer = first if turn % 2 == 0 else second
        seen += [c.id for c in _claim(claimer, now=NOW, limit=2)]
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
        while batch := _claim(engine, now=NOW, limit=3):
            claims[index] += [c.id for c in batch]
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
    [taken] = _claim(engine, now=NOW, limit=1)
    just_before = NOW + LEASE - timedelta(seconds=1)
    assert _claim(engine, now=just_before, limit=1) == []
    [again] = _claim(engine, now=NOW + LEASE, limit=1)
    assert again.id == taken.id
    assert _stored(engine, again.id).next_attempt_at == NOW + LEASE + LEASE


def test_a_sent_letter_is_never_claimed_again(engine: Engine) -> None:
    _fill(engine, 1)
    [taken] = _claim(engine, now=NOW, limit=1)
    with write_transaction(engine) as conn:
        letter_fates.record_sent(conn, taken, now=NOW + timedelta(seconds=2))
    assert _claim(engine, now=NOW + timedelta(days=1), limit=1) == []
    letter = _stored(engine, taken.id)
    assert letter.state == "sent"
    assert letter.sent_at == NOW + timedelta(seconds=2)
    assert letter.attempts == 1


def test_a_claim_tells_which_letters_go_to_an_address_that_bounced_hard(engine: Engine) -> None:
    # Any case, and beyond ASCII (where the database's lower() does not fold).
    stopped = ["Ana@Example.com", "Ünal@Exämple.com"]
    going = ["bob@example.com", "Ömer@exämple.com"]
    with write_transaction(engine) as conn:
        for n, to in enumerate(stopped + going):
            _enqueue(conn, n, to=to)
        for to in stopped:
            suppression.suppress(conn, to, reason="550 no such user", message_row_id=None,
                                 now=NOW)
        # An alert on one of the business's own addresses never stops its mail.
        suppression.raise_alert(conn, "bob@example.com", reason="550 full",
                                message_row_id=None, now=NOW)
    claimed = _claim(engine, now=NOW, limit=10)
    assert {c.to_email: c.suppressed for c in claimed} == (
        dict.fromkeys(stopped, True) | dict.fromkeys(going, False))


@pytest.mark.parametrize(
    ("attempts", "base_seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (30, 3600)],
)
@pytest.mark.parametrize("letter_id", [1, 2, 977])
def test_back_off_doubles_from_30_seconds_up_to_an_hour_with_a_little_jitter(
    attempts: int, base_seconds: int, letter_id: int
) -> None:
    delay = letter_fates.backoff_delay(attempts, letter_id).total_seconds()
    assert base_seconds <= delay <= base_seconds * 1.1


def test_back_off_spreads_letters_that_failed_together() -> None:
    delays = {letter_fates.backoff_delay(3, letter_id) for letter_id in range(1, 51)}
    assert len(delays) > 25


def _fail(engine: Engine, letter_id: int, at: datetime, *, permanent: bool = False) -> str:
    with write_transaction(engine) as conn:
        return letter_fates.record_failed(
            conn, letter_id, now=at, error="451 try later", permanent=permanent, max_attempts=3
        )


def test_temporary_failures_retry_later_until_max_attempts_then_fail(engine: Engine) -> None:
    _fill(engine, 1)
    clock = NOW
    states = []
    for _ in range(3):
        [letter] = _claim(engine, now=clock, limit=1)
        states.append(_fail(engine, letter.id, clock))
        stored_letter = _stored(engine, letter.id)
        if stored_letter.state == "queued":
            assert stored_letter.next_attempt_at > clock
            assert _claim(engine, now=clock, limit=1) == []
            clock = stored_letter.next_attempt_at
    assert states == [LetterState.QUEUED, LetterState.QUEUED, LetterState.FAILED]
    assert stored_letter.attempts == 3
    assert stored_letter.last_error == "451 try later"
    assert _claim(engine, now=clock + timedelta(days=30), limit=1) == []


def test_a_permanent_failure_fails_at_once_and_is_logged(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        complaint_id = stored.register(conn, "K7M-Q3X9", received_at=NOW, with_message=False)
        letter_id = _enqueue(conn, 1, complaint_id=complaint_id)
    _claim(engine, now=NOW, limit=1)
    assert _fail(engine, letter_id, NOW, permanent=True) == LetterState.FAILED
    with transaction(engine) as session:
        kinds = session.exec(
            select(Event.kind).where(Event.complaint_id == complaint_id).order_by(col(Event.id))
        ).all()
    assert kinds == ["registered", "letter_queued", "letter_failed"]


def test_rate_limit_counts_recent_automatic_letters_to_the_mailbox_whatever_became_of_them(
    engine: Engine,
) -> None:
    day_ago = NOW - timedelta(hours=24)
    with write_transaction(engine) as conn:
        _enqueue(conn, 1, to="Robot@Example.com")
        _enqueue(conn, 2, to="robot+2@example.com")
        _enqueue(conn, 3, to="robot@example.com", automatic=False)
        _enqueue(conn, 4, to="robot@example.com", at=day_ago - timedelta(seconds=1))
        _enqueue(conn, 5, to="other@example.com")
        failed = _enqueue(conn, 6, to="robot@example.com")
        letter_fates.record_failed(conn, failed, now=NOW, error="550", permanent=True,
                                   max_attempts=5)
    with write_transaction(engine) as conn:
        count = automatic_letters.automatic_letters_since(conn, mailbox_key("ROBOT@example.COM"),
                                                          day_ago)
    # The failed letter was written all the same: it counts.
    assert count == 3


def test_the_sender_records_a_letter_to_an_address_that_bounced_hard_and_sends_the_rest(
    engine: Engine, tmp_path: Path
) -> None:
    with write_transaction(engine) as conn:
        for n, to in enumerate(["ana@example.com", "Ünal@Exämple.com", "bob@example.com"]):
            _enqueue(conn, n, to=to)
        for to in ["ANA@example.com", "ünal@exämple.com"]:
            suppression.suppress(conn, to, reason="550 no such user", message_row_id=None,
                                 now=NOW)
    transport = MaildirTransport(tmp_path)
    sender = Sender(engine, FixedClock(NOW), transport, max_attempts=3)
    try:
        assert sender.drain() == 3
    finally:
        sender.close()
    assert [p.name for p in tmp_path.iterdir()] == ["bob@example.com"]
    with transaction(engine) as session:
        letters = {x.to_email: x for x in session.exec(select(OutboxLetter))}
    assert letters["bob@example.com"].state == "sent"
    for to in ["ana@example.com", "Ünal@Exämple.com"]:
        assert letters[to].state == "failed"
        assert letters[to].last_error == SUPPRESSED
