"""The SQLite sender's sent journal: what it writes down survives the sender, is written
into the database exactly once, and keeps a dead sender's letters from going out twice."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from tests import stored
from triaged.adapters.ports import Delivery, OnDelivery, Outgoing
from triaged.adapters.smtp import MaildirTransport
from triaged.domain.clock import FixedClock
from triaged.store import letter_claims, letter_fates, outbox_rows
from triaged.store.db import make_engine, transaction, write_transaction
from triaged.store.journal import Journal
from triaged.store.models import Complaint, Event, OutboxLetter
from triaged.store.sent_journal import Accepted, SentJournal, journal_folder, read
from triaged.usecases.sender import LEASE, Sender

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
# A sender on this machine whose process no longer exists (no process started one
# clock tick after boot is still running with Linux's highest pid).
DEAD_SENDER = f"{socket.gethostname()}:4194303:1"


def _holding_replies(engine: Engine, count: int) -> list[int]:
    """`count` registered complaints, each with its holding reply queued; their letters' ids."""
    ids = []
    with write_transaction(engine) as conn:
        for n in range(count):
            complaint = stored.register(conn, f"REF-{n:03}", received_at=NOW,
                                        customer_email=f"customer{n}@example.com")
            letter_id, queued = outbox_rows.queue_letter(
                conn, complaint_id=complaint, kind="holding",
                to_email=f"customer{n}@example.com", message_id=f"<reply-{n}@acme.example>",
                subject=f"Re: complaint {n}",
                raw=b"From: support@acme.example\r\n\r\nWe have your complaint.\r\n",
                automatic=True, now=NOW)
            with Journal(conn) as journal:
                journal.record(queued)
            ids.append(letter_id)
    return ids


def _delivered(folder: Path) -> dict[str, int]:
    """How many letters each customer's Maildir received."""
    return {box.name: len(list((box / "new").iterdir())) for box in folder.iterdir()}


def test_a_journal_is_read_back_and_a_line_its_crash_cut_short_is_skipped(
    tmp_path: Path,
) -> None:
    journal = SentJournal(tmp_path / "triaged.db-sent", "host:42:7")
    journal.add(Accepted(3, NOW))
    journal.add(Accepted(5, NOW + timedelta(seconds=1)))
    with open(journal.path, "ab") as torn:
        torn.write(b"6 2026-05-0")  # killed in the middle of the write
    found = read(journal.path)
    assert found is not None
    assert found.holder == "host:42:7"
    assert found.accepted == [Accepted(3, NOW), Accepted(5, NOW + timedelta(seconds=1))]
    journal.clear()
    cleared = read(journal.path)
    assert cleared is not None
    assert cleared.accepted == []


def test_a_journal_sits_beside_a_sqlite_database_only(engine: Engine, tmp_path: Path) -> None:
    assert journal_folder(engine) == tmp_path / "triaged.db-sent"
    memory = make_engine("sqlite://")
    assert journal_folder(memory) is None
    memory.dispose()


def test_an_acceptance_written_twice_is_recorded_once(engine: Engine) -> None:
    [letter] = _holding_replies(engine, 1)
    with write_transaction(engine) as conn:
        letter_claims.claim_letters(conn, now=NOW, limit=1, lease=LEASE)
    sent_at = NOW + timedelta(seconds=2)
    for _ in range(2):
        with write_transaction(engine) as conn:
            letter_fates.record_sent_all(conn, [(letter, sent_at)])
    with transaction(engine) as session:
        row = session.get(OutboxLetter, letter)
        events = [e.kind for e in session.exec(select(Event).order_by(col(Event.id)))]
        complaint = session.exec(select(Complaint)).one()
    assert row is not None
    assert (row.state, row.attempts, row.sent_at) == ("sent", 1, sent_at)
    assert events.count("letter_sent") == 1
    assert events.count("state_changed") == 1
    assert complaint.state == "acknowledged"


def test_a_dead_senders_journal_is_recorded_before_its_letters_are_taken_over(
    engine: Engine, tmp_path: Path
) -> None:
    letters = _holding_replies(engine, 4)
    # A sender claimed all four, had the first two accepted, and was killed before
    # its next turn at the database: only its journal knows they went out.
    with write_transaction(engine) as conn:
        letter_claims.claim_letters(conn, now=NOW, limit=4, lease=LEASE, holder=DEAD_SENDER)
    folder = journal_folder(engine)
    assert folder is not None
    dead = SentJournal(folder, DEAD_SENDER)
    for letter in letters[:2]:
        dead.add(Accepted(letter, NOW))

    outbox = tmp_path / "outbox"
    sender = Sender(engine, FixedClock(NOW + timedelta(seconds=30)), MaildirTransport(outbox),
                    max_attempts=3)
    try:
        assert sender.drain() == 2
    finally:
        sender.close()

    assert _delivered(outbox) == {"customer2@example.com": 1, "customer3@example.com": 1}
    with transaction(engine) as session:
        rows = session.exec(select(OutboxLetter).order_by(col(OutboxLetter.id))).all()
        acknowledged = session.exec(
            select(Complaint).where(Complaint.state == "acknowledged")).all()
    assert [(r.state, r.attempts) for r in rows] == [("sent", 1)] * 4
    assert [r.sent_at for r in rows[:2]] == [NOW, NOW]
    assert len(acknowledged) == 4
    assert list(folder.iterdir()) == [], "the dead sender's journal was left behind"


class _SlowServer(MaildirTransport):
    """Maildir delivery on a server that takes `pause` per letter (on the test's clock),
    noting at each letter the leases of the letters still claimed."""

    def __init__(self, root: Path, clock: FixedClock, engine: Engine, pause: timedelta) -> None:
        super().__init__(root)
        self.clock, self.engine, self.pause = clock, engine, pause
        self.expired: list[int] = []
        self.delivered: set[int] = set()

    def deliver(self, letters: Iterable[Outgoing], on_delivery: OnDelivery) -> None:
        def slowly(delivery: Delivery) -> None:
            self.clock.advance(self.pause)
            on_delivery(delivery)
            self.delivered.add(delivery.letter_id)
            # Letters delivered are in the sender's journal, which any sender writes
            # down before taking letters over; the others must stay leased.
            with transaction(self.engine) as session:
                self.expired += [
                    letter.id for letter in session.exec(
                        select(OutboxLetter).where(OutboxLetter.state == "sending"))
                    if letter.id is not None and letter.id not in self.delivered
                    and letter.next_attempt_at is not None
                    and letter.next_attempt_at <= self.clock.now()]
        super().deliver(letters, slowly)


def test_letters_claimed_ahead_keep_their_lease_on_a_slow_server(
    engine: Engine, tmp_path: Path
) -> None:
    _holding_replies(engine, 6)
    clock = FixedClock(NOW)
    server = _SlowServer(tmp_path / "outbox", clock, engine, pause=LEASE / 3)
    sender = Sender(engine, clock, server, max_attempts=3)
    try:
        assert sender.drain() == 6
    finally:
        sender.close()
    # An expired lease would let another sender take the letter and send it again.
    assert server.expired == []
    assert sorted(_delivered(tmp_path / "outbox").values()) == [1] * 6


def test_without_a_journal_to_write_to_each_letter_is_recorded_at_once(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _holding_replies(engine, 3)
    folder = journal_folder(engine)
    assert folder is not None
    folder.write_text("not a folder")  # what a full disk or another user's folder does
    outbox = tmp_path / "outbox"
    sender = Sender(engine, FixedClock(NOW), MaildirTransport(outbox), max_attempts=3)
    try:
        assert sender.drain() == 3
        assert sender.drain() == 0
    finally:
        sender.close()
    assert sorted(_delivered(outbox).values()) == [1, 1, 1]
    with transaction(engine) as session:
        states = [r.state for r in session.exec(select(OutboxLetter))]
    assert states == ["sent"] * 3
    said = [r.getMessage() for r in caplog.records if "sent journal" in r.getMessage()]
    assert len(said) == 1, said
