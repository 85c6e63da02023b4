"""Savepoints (`store.db.savepoint`): each block's writes kept or undone on its own, on
SQLite and PostgreSQL, however blocks follow, nest and fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from tests.support.statements import statements_sent
from triaged.store.db import make_engine, savepoint, write_transaction, writer


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _write(conn: Connection, name: str) -> None:
    conn.execute(text("INSERT INTO blob (sha256, size, data) VALUES (:name, 0, :data)"),
                 {"name": name, "data": b""})


def _stored(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(text("SELECT sha256 FROM blob")).scalars())


def _write_then_fail(conn: Connection, name: str) -> None:
    with savepoint(conn):
        _write(conn, name)
        raise RuntimeError("bug")


def _fails(conn: Connection, name: str) -> None:
    with pytest.raises(RuntimeError, match="bug"):
        _write_then_fail(conn, name)


def _two_blocks_then_fail(conn: Connection) -> None:
    with savepoint(conn):
        with savepoint(conn):
            _write(conn, "inner one")
        with savepoint(conn):
            _write(conn, "inner two")
        _write(conn, "outer")
        raise RuntimeError("bug")


def test_blocks_in_a_row_each_keep_their_writes_and_a_failed_one_undoes_only_its_own(
    engine: Engine,
) -> None:
    with write_transaction(engine) as conn:
        with savepoint(conn):
            _write(conn, "first")
        _fails(conn, "undone")
        with savepoint(conn):
            _write(conn, "after the failure")
        with savepoint(conn):
            _write(conn, "last")
        _write(conn, "outside any block")
    assert _stored(engine) == ["after the failure", "first", "last", "outside any block"]


def test_a_failed_block_undoes_the_blocks_that_ended_inside_it(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        with pytest.raises(RuntimeError, match="bug"):
            _two_blocks_then_fail(conn)
        with savepoint(conn):
            _write(conn, "next block")
    assert _stored(engine) == ["next block"]


def test_a_block_that_ended_inside_one_that_ends_normally_is_kept(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        with savepoint(conn):
            with savepoint(conn):
                _write(conn, "inner")
            _fails(conn, "inner failed")
            _write(conn, "outer")
        _fails(conn, "undone")
    assert _stored(engine) == ["inner", "outer"]


def test_the_next_transaction_on_the_same_connection_starts_afresh(engine: Engine) -> None:
    with writer(engine) as conn:
        with conn.begin(), savepoint(conn):
            _write(conn, "committed")
        with conn.begin() as rolled_back:
            with savepoint(conn):
                _write(conn, "rolled back")
            rolled_back.rollback()
        with conn.begin(), savepoint(conn):
            _write(conn, "third transaction")
    # The pool hands the same connection to the next writer.
    with write_transaction(engine) as conn, savepoint(conn):
        _write(conn, "another writer")
    assert _stored(engine) == ["another writer", "committed", "third transaction"]


@pytest.mark.postgres
def test_on_postgresql_a_message_s_savepoint_costs_one_round_trip(
    new_pg_database: Any,
) -> None:
    engine = make_engine(new_pg_database())
    sent = statements_sent(engine)
    try:
        with write_transaction(engine) as conn:
            for n in range(3):
                with savepoint(conn):
                    _write(conn, f"message {n}")
    finally:
        engine.dispose()
    # The first block opens its savepoint; each next one releases the one before with
    # the same statement that opens its own; the commit releases the last.
    savepoints = [statement.split("; ") for statement in sent if "SAVEPOINT" in statement]
    names = [parts[-1].removeprefix("SAVEPOINT ") for parts in savepoints]
    assert savepoints == [[f"SAVEPOINT {names[0]}"],
                          [f"RELEASE SAVEPOINT {names[0]}", f"SAVEPOINT {names[1]}"],
                          [f"RELEASE SAVEPOINT {names[1]}", f"SAVEPOINT {names[2]}"]]
    assert len(sent) == 6, sent
