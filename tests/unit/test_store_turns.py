"""Writer turns on SQLite: a turn asked for ahead comes in order, without stopping the
asker, and one asked for and never taken does not hold up the other writers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from triaged.store.db import ask_turn, make_engine, turn_ready, write_transaction, writer

# Past this wait a writer goes on without its turn (store.db): a leaked turn shows as
# writers that take this long.
TURN_FALLBACK_SECONDS = 5.0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE written (who TEXT)"))
    yield engine
    engine.dispose()


def _write(engine: Engine, who: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO written VALUES (:who)"), {"who": who})


def _order(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(row[0]) for row in conn.execute(text("SELECT who FROM written ORDER BY rowid"))]


def test_a_turn_asked_for_ahead_comes_after_the_writer_in_hand_and_before_later_ones(
    engine: Engine,
) -> None:
    holding, release = threading.Event(), threading.Event()

    def long_batch() -> None:
        with write_transaction(engine) as conn:
            holding.set()
            release.wait(10)
            conn.execute(text("INSERT INTO written VALUES ('batch')"))

    batch = threading.Thread(target=long_batch)
    batch.start()
    assert holding.wait(10)
    with writer(engine) as conn:
        ask_turn(conn)
        # The asker is not stopped: it learns the turn has not come and goes on.
        assert not turn_ready(conn)
        release.set()
        batch.join(10)
        deadline = time.monotonic() + 10
        while not turn_ready(conn):
            assert time.monotonic() < deadline, "the turn asked for never came"
            time.sleep(0.01)
        # A writer that comes now waits for the turn already given.
        later = threading.Thread(target=_write, args=(engine, "later"))
        later.start()
        time.sleep(0.2)
        with conn.begin():
            conn.execute(text("INSERT INTO written VALUES ('asker')"))
    later.join(10)
    assert _order(engine) == ["batch", "asker", "later"]


def test_a_turn_asked_for_and_never_taken_is_passed_on(engine: Engine) -> None:
    asked, done = threading.Event(), threading.Event()

    def asker() -> None:
        with writer(engine) as conn:
            ask_turn(conn)
            assert turn_ready(conn)  # nobody was writing: it came at once
            asked.set()
            done.wait(10)
        # The block ends without taking the turn.

    thread = threading.Thread(target=asker)
    thread.start()
    assert asked.wait(10)
    waiting = threading.Thread(target=_write, args=(engine, "next"))
    waiting.start()
    time.sleep(0.2)  # the writer now waits behind the turn asked for
    assert _order(engine) == []
    done.set()
    thread.join(10)
    started = time.monotonic()
    waiting.join(10)
    assert time.monotonic() - started < TURN_FALLBACK_SECONDS / 2, "the turn was kept"
    assert _order(engine) == ["next"]
