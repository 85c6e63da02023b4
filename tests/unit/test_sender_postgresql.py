"""The PostgreSQL sender: each acceptance is in the database before its connection
takes the next letter, and recording it costs one round trip, not a transaction of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from tests.support.statements import statements_sent
from tests.unit.test_sent_journal import NOW, _delivered, _holding_replies
from triaged.adapters.ports import OnDelivery, Outgoing
from triaged.adapters.smtp import MaildirTransport
from triaged.domain.clock import FixedClock
from triaged.store.db import make_engine
from triaged.store.models import metadata
from triaged.usecases.sender import Sender

pytestmark = pytest.mark.postgres

_letter = metadata.tables["outbox_letter"]


@pytest.fixture
def engine(new_pg_database: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(new_pg_database())
    yield engine
    engine.dispose()


class _Watching(MaildirTransport):
    """Maildir delivery that notes, before each letter, how many letters another
    connection (another instance taking over after a crash) sees as sent."""

    def __init__(self, root: Path, engine: Engine) -> None:
        super().__init__(root)
        self.engine = engine
        self.seen_sent: list[int] = []

    def deliver(self, letters: Iterable[Outgoing], on_delivery: OnDelivery) -> None:
        def watched() -> Iterator[Outgoing]:
            for letter in letters:
                with self.engine.connect() as other:
                    self.seen_sent.append(int(other.execute(
                        select(func.count()).where(_letter.c.state == "sent")).scalar_one()))
                yield letter

        super().deliver(watched(), on_delivery)


def test_on_postgresql_each_acceptance_is_in_the_database_before_the_next_letter(
    engine: Engine, tmp_path: Path
) -> None:
    _holding_replies(engine, 12)
    transport = _Watching(tmp_path / "outbox", engine)
    sender = Sender(engine, FixedClock(NOW), transport, max_attempts=3)
    try:
        assert sender.drain() == 12
    finally:
        sender.close()
    # A crash between two letters re-sends none: each one before was already recorded.
    assert transport.seen_sent == list(range(12))
    assert sum(_delivered(tmp_path / "outbox").values()) == 12


def test_on_postgresql_a_letter_accepted_costs_one_round_trip_and_a_share_of_a_claim(
    engine: Engine, tmp_path: Path
) -> None:
    _holding_replies(engine, 100)
    sent = statements_sent(engine)
    commits: list[object] = []

    def note(conn: Any) -> None:
        commits.append(conn)

    event.listen(engine, "commit", note)
    sender = Sender(engine, FixedClock(NOW), MaildirTransport(tmp_path / "outbox"),
                    max_attempts=3)
    try:
        assert sender.drain() == 100
    finally:
        sender.close()
    # Each statement is a round trip to the server, and each transaction two more
    # (BEGIN, COMMIT). A transaction per letter (its record and the next claim)
    # made four per letter; a claim of many letters at once is shared by them.
    round_trips = len(sent) + 2 * len(commits)
    assert round_trips <= 150, (len(sent), len(commits))
