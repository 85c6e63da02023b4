"""The engine, schema migrations and the unit of work.

SQLite is the default (WAL, so the CLI can read while the daemon writes);
PostgreSQL is chosen by URL and passed through untouched.

On SQLite the driver's own transaction handling is switched off and triaged
emits BEGIN itself (the recipe in SQLAlchemy's pysqlite notes): a `transaction()`
starts with `BEGIN IMMEDIATE`, so two writers queue on `busy_timeout` instead of
one of them failing at once when it upgrades a stale read snapshot, and a read
followed by a write inside one transaction (deduplication, claiming letters)
sees no other writer in between. Plain sessions begin with a deferred BEGIN and
never block a writer.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option read by the BEGIN hook: the SQLite BEGIN mode to emit.
_BEGIN_MODE = "triaged_sqlite_begin"

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)


def make_engine(url: str) -> Engine:
    """Return an engine for `url`.

    SQLite: the parent folder of the database file is created, and every
    connection gets WAL, synchronous=NORMAL, foreign keys and a 5 s busy timeout.
    Any other URL (e.g. `postgresql+psycopg://…`) is passed to SQLAlchemy as is.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Stop the sqlite3 module from issuing its own BEGIN/COMMIT; _sqlite_on_begin
    # emits BEGIN instead, which also makes DDL (migrations) transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_MODE, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """Yield a session inside one write transaction.

    Commits when the block ends normally, rolls back when it raises. Objects
    stay usable after the commit (`expire_on_commit=False`). On SQLite the
    transaction takes the write lock at once (`BEGIN IMMEDIATE`).
    """
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options={_BEGIN_MODE: "IMMEDIATE"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def writer(engine: Engine) -> Iterator[Connection]:
    """Yield a Core connection whose every `begin()` is a write transaction.

    For the hot paths that use `rows` / `outbox_rows` (SQLAlchemy Core, no
    Session): the caller opens as many short transactions on it as it needs
    (`with conn.begin(): …`), e.g. one per delivered letter. On SQLite each
    starts with `BEGIN IMMEDIATE`, as `transaction()` does.
    """
    with engine.connect() as conn:
        yield conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Yield a Core connection inside one write transaction; commit or roll back at the end."""
    with writer(engine) as conn, conn.begin():
        yield conn


_savepoints = itertools.count(1)


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """Run the block in a SAVEPOINT of the connection's open transaction.

    What the block wrote is kept when it ends normally and undone when it
    raises (the exception propagates). The same as `conn.begin_nested()` at
    a third of the cost, which intake pays once per message.
    """
    name = f"triaged_{next(_savepoints)}"
    conn.exec_driver_sql(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        try:
            conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
            conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        except SQLAlchemyError:
            # The database already ended the transaction (e.g. SQLite after an
            # I/O error); the original error is the one to report, and the
            # caller's rollback of the whole transaction follows.
            pass
        raise
    conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic `upgrade head`).

    Idempotent: at head it does nothing. Needs no alembic.ini, so it works from
    an installed wheel. On SQLite the upgrade holds the write lock throughout,
    so two processes starting together migrate once.
    """
    config = _alembic_config()
    with engine.connect() as conn:
        conn = conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
        with conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def schema_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None if it was never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """Return the newest revision this version of triaged knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
