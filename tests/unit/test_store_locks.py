"""Transaction-level advisory locks on PostgreSQL (`store.ownership.lock_until_commit`):
held until the commit, taken in one statement for a batch, never asked twice."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Connection, Engine, event, text

from triaged.store.db import make_engine, savepoint, write_transaction
from triaged.store.ownership import advisory_key, lock_until_commit

_TRY = text("SELECT pg_try_advisory_xact_lock(:key)")


@pytest.fixture
def engine(new_pg_database: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(new_pg_database())
    yield engine
    engine.dispose()


def _locks_asked(engine: Engine) -> list[str]:
    asked: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def count(conn: Connection, cursor: object, statement: str, *rest: object) -> None:
        if "pg_advisory_xact_lock" in statement:
            asked.append(statement)

    return asked


def _free(engine: Engine, name: str) -> bool:
    with engine.connect() as other:
        free = bool(other.execute(_TRY, {"key": advisory_key(name)}).scalar_one())
        other.rollback()
        return free


def test_a_batchs_locks_are_one_statement_and_held_until_the_commit(engine: Engine) -> None:
    asked = _locks_asked(engine)
    with write_transaction(engine) as conn:
        lock_until_commit(conn, "mail:a", "mail:b", "to:c", "mail:a")
        assert len(asked) == 1
        assert not _free(engine, "mail:b")
        assert not _free(engine, "to:c")
        lock_until_commit(conn, "to:c")  # held already: not asked again
        assert len(asked) == 1
    assert _free(engine, "mail:b")
    with write_transaction(engine) as conn:
        lock_until_commit(conn, "to:c")  # a new transaction holds nothing yet
    assert len(asked) == 2


def _lock_then_fail(conn: Connection, name: str) -> None:
    with savepoint(conn):
        lock_until_commit(conn, name)
        raise RuntimeError("bug")


def test_locks_taken_in_a_savepoint_that_failed_are_asked_for_again(engine: Engine) -> None:
    asked = _locks_asked(engine)
    with write_transaction(engine) as conn:
        with pytest.raises(RuntimeError, match="bug"):
            _lock_then_fail(conn, "mail:x")
        lock_until_commit(conn, "mail:x")
        assert len(asked) == 2
        assert not _free(engine, "mail:x")
