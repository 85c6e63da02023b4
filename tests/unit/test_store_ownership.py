"""Mailbox ownership: one instance reads a mailbox at a time on PostgreSQL; SQLite needs none."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine

from tests.pgserver import PostgresServer
from triaged.store.db import make_engine
from triaged.store.ownership import MailboxLock, advisory_key

MAILBOX = "imap:support@acme.example@imap.acme.example/INBOX"


@pytest.fixture
def engines(db_url: str) -> Iterator[Callable[[], Engine]]:
    """``engine()``: one more engine on the test's database, as another process would have."""
    made: list[Engine] = []

    def make() -> Engine:
        made.append(make_engine(db_url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


def test_keys_are_stable_signed_64_bit_and_differ_by_mailbox() -> None:
    key = advisory_key(MAILBOX)
    assert key == advisory_key(MAILBOX)
    assert -(2**63) <= key < 2**63
    assert advisory_key(MAILBOX.replace("INBOX", "Support")) != key


def test_sqlite_has_one_instance_so_every_lock_is_held() -> None:
    engine = make_engine("sqlite:///:memory:")
    first, second = MailboxLock(engine, MAILBOX, "a"), MailboxLock(engine, MAILBOX, "b")
    assert [first.held(), second.held(), first.is_held, second.is_held] == [True] * 4
    first.release()
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_one_instance_holds_a_mailbox_until_it_lets_go(
    engines: Callable[[], Engine], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="triaged.ownership")
    first = MailboxLock(engines(), MAILBOX, "support")
    second = MailboxLock(engines(), MAILBOX, "support")
    other_mailbox = MailboxLock(engines(), MAILBOX.replace("INBOX", "Sales"), "sales")

    assert first.held()
    assert [second.held() for _ in range(3)] == [False, False, False]
    assert not second.is_held
    assert other_mailbox.held()  # a lock per mailbox, not one per database
    assert first.held()  # asking again keeps it

    first.release()
    assert second.held()
    assert not first.held()
    messages = [r.getMessage() for r in caplog.records]
    # Skipping is logged once, not at every poll; taking over once.
    assert messages == [
        "support: another instance is reading this mailbox; skipping it while that lasts",
        "support: the other instance let go; reading this mailbox now",
        "support: another instance is reading this mailbox; skipping it while that lasts",
    ]
    for lock in (first, second, other_mailbox):
        lock.release()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_lost_lock_connection_is_noticed_and_the_mailbox_taken_again(
    engines: Callable[[], Engine], postgres: PostgresServer, db_url: str
) -> None:
    owner = MailboxLock(engines(), MAILBOX, "support")
    standby = MailboxLock(engines(), MAILBOX, "support")
    assert owner.held()
    # The server ends the owner's session (a restart, an admin, a network cut): its
    # lock goes with it, and whoever asks first owns the mailbox.
    database = db_url.rsplit("/", 1)[1]
    with postgres.connect() as admin:
        ended = admin.execute(
            # With a timeout (ms) it returns once the session is gone, lock included.
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks "
            "JOIN pg_stat_activity USING (pid) "
            "WHERE locktype = 'advisory' AND datname = %s", (database,)).fetchall()
    assert ended == [(True,)]
    assert standby.held()
    assert not owner.held()
    standby.release()
    assert owner.held()
    owner.release()
