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

Writers of one process (the poller's batch, the sender's per-letter records,
a slow message's mark) also take turns on a lock of the engine's before their
BEGIN IMMEDIATE: SQLite's busy handler polls with growing sleeps, so a short
writer could miss every gap between a busy writer's transactions and fail
after `busy_timeout`, while a waiter on the lock is let in at the next commit.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, column, create_engine, event, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from triaged.domain.errors import SchemaMismatch
from triaged.store.ownership import forget_locks_held
from triaged.store.rows import forget_read_ahead

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger("triaged.store")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option read by the BEGIN hook: the SQLite BEGIN mode to emit.
_BEGIN_MODE = "triaged_sqlite_begin"

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    # Each connection's page cache, in KiB (SQLite's default is 2 MiB). The pool
    # keeps a few connections, each cache fills as the database grows, and the
    # operating system caches the file anyway: small caches keep the daemon small.
    "PRAGMA cache_size=-512",
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
    turns = _WriterTurns()
    _turns[engine] = turns
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", turns.begin)
    event.listen(engine, "commit", turns.end)
    event.listen(engine, "rollback", turns.end)
    return engine


# Each SQLite engine's writer turns (PostgreSQL has none: its writers do not queue).
_turns: weakref.WeakKeyDictionary[Engine, _WriterTurns] = weakref.WeakKeyDictionary()


def ask_turn(conn: Connection) -> None:
    """Queue `conn` for its next write turn without waiting for it (SQLite; nothing
    on PostgreSQL): its next `begin()` takes that turn, waiting only if it has not come.

    For a writer with other work in hand, e.g. a sender with letters still claimed:
    it goes on with them, and takes the turn once `turn_ready` says it has come.
    """
    turns = _turns.get(conn.engine)
    if turns is not None:
        turns.ask(conn)


def turn_ready(conn: Connection) -> bool:
    """Whether `conn`'s next `begin()` can write without waiting (its turn asked for
    has come; always on PostgreSQL)."""
    turns = _turns.get(conn.engine)
    return turns is None or turns.ready(conn)


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


class _TakingTurns:
    """A lock handed to its waiters in the order they came (a plain lock lets the
    thread that just released it take it again before a waiter wakes). Not
    reentrant; released by whichever thread ends the transaction."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: collections.deque[threading.Event] = collections.deque()

    def acquire(self, timeout: float) -> bool:
        return self.wait(self.ask(), timeout)

    def ask(self) -> threading.Event:
        """Queue for a turn without waiting: the event is set once the turn is the
        caller's, who must then `wait` for it (and later release it)."""
        turn = threading.Event()
        with self._mutex:
            if not self._held:
                self._held = True
                turn.set()
            else:
                self._waiters.append(turn)
        return turn

    def wait(self, turn: threading.Event, timeout: float) -> bool:
        """Wait up to `timeout` for the turn asked for; False: not given, and no longer asked."""
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over as the wait ended
                return True
            self._waiters.remove(turn)
            return False

    def cancel(self, turn: threading.Event) -> None:
        """Give up a turn asked for and not taken (passing it on if it had come)."""
        with self._mutex:
            if not turn.is_set():
                self._waiters.remove(turn)
                return
        self.release()

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # the next one holds it now
            else:
                self._held = False


class _WriterTurns:
    """The BEGIN hook of one SQLite engine, and its writers' turns within the process."""

    # Past this wait the writer goes on to SQLite's own busy handling, as without
    # the lock: a thread that waits on another while holding a write is never stuck.
    WAIT_SECONDS = 5.0
    _HELD = "triaged_writer_turn"

    def __init__(self) -> None:
        self._lock = _TakingTurns()

    _ASKED = "triaged_writer_turn_asked"

    def ask(self, conn: Connection) -> None:
        if self._ASKED not in conn.info:
            conn.info[self._ASKED] = self._lock.ask()

    def forget(self, conn: Connection) -> None:
        asked = conn.info.pop(self._ASKED, None)
        if asked is not None:
            self._lock.cancel(asked)

    def ready(self, conn: Connection) -> bool:
        asked: threading.Event | None = conn.info.get(self._ASKED)
        return asked is not None and asked.is_set()

    def begin(self, conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_MODE, "DEFERRED")
        asked = conn.info.pop(self._ASKED, None)
        if mode != "IMMEDIATE":
            if asked is not None:  # not a writer after all: the turn passes on
                self._lock.cancel(asked)
            conn.exec_driver_sql(f"BEGIN {mode}")
            return
        turn = asked if asked is not None else self._lock.ask()
        conn.info[self._HELD] = self._lock.wait(turn, self.WAIT_SECONDS)
        try:
            conn.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            self.end(conn)
            raise

    def end(self, conn: Connection) -> None:
        if conn.info.pop(self._HELD, False):
            self._lock.release()


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

    For the hot paths that use `rows` / `letter_fates` (SQLAlchemy Core, no
    Session): the caller opens as many short transactions on it as it needs
    (`with conn.begin(): …`), e.g. one per delivered letter. On SQLite each
    starts with `BEGIN IMMEDIATE`, as `transaction()` does.
    """
    with engine.connect() as conn:
        try:
            yield conn.execution_options(**{_BEGIN_MODE: "IMMEDIATE"})
        finally:
            # A turn asked for (`ask_turn`) and never taken would stop every writer.
            turns = _turns.get(engine)
            if turns is not None:
                turns.forget(conn)


@contextmanager
def each_statement_commits(engine: Engine) -> Iterator[Connection]:
    """Yield a Core connection on which each statement is a transaction of its own
    (autocommit): one round trip where BEGIN, the statement and COMMIT took three.

    For a write that is whole in one statement and must be durable before the
    caller goes on (a PostgreSQL sender's record of a letter accepted).
    """
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Yield a Core connection inside one write transaction; commit or roll back at the end."""
    with writer(engine) as conn, conn.begin():
        yield conn


_savepoints = itertools.count(1)
# On PostgreSQL, the savepoint whose block ended normally and is not yet released,
# with the transaction it belongs to (conn.info outlives the transaction).
_UNRELEASED = "triaged_unreleased_savepoint"


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """Run the block in a SAVEPOINT of the connection's open transaction.

    What the block wrote is kept when it ends normally and undone when it
    raises (the exception propagates). The same as `conn.begin_nested()` at
    a third of the cost, which intake pays once per message.

    On PostgreSQL each statement is a round trip to the server, so a savepoint
    that ended normally is released together with the next one's start (one
    round trip for both), or by the transaction's end.
    """
    name = f"triaged_{next(_savepoints)}"
    deferred = conn.dialect.name == "postgresql"
    conn.exec_driver_sql(f"{_release_pending(conn)}SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        # Undoing this savepoint undoes any left unreleased inside it, and the
        # transaction-level locks taken inside it.
        conn.info.pop(_UNRELEASED, None)
        forget_locks_held(conn)
        forget_read_ahead(conn)
        try:
            conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {name}")
            conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")
        except SQLAlchemyError:
            # The database already ended the transaction (e.g. SQLite after an
            # I/O error); the original error is the one to report, and the
            # caller's rollback of the whole transaction follows.
            pass
        raise
    if deferred:
        # Releasing this one releases any left unreleased inside it too.
        conn.info[_UNRELEASED] = (conn.get_transaction(), name)
    else:
        conn.exec_driver_sql(f"RELEASE SAVEPOINT {name}")


def _release_pending(conn: Connection) -> str:
    """The statement releasing the savepoint left unreleased in this transaction, or ""."""
    transaction, name = conn.info.pop(_UNRELEASED, (None, ""))
    if transaction is None or transaction is not conn.get_transaction():
        return ""
    return f"RELEASE SAVEPOINT {name}; "


# Alembic (with Mako and Pygments, about 10 MB that the daemon would carry for good)
# is imported only to move the schema or to explain how it differs: a start at the
# newest schema reads the revision files and one row (`head_revision`, `schema_revision`).
def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database's schema stands against the newest revision this code knows.

    `current` is None for a database never migrated (an empty file, a new
    PostgreSQL database). `pending` lists the revisions an upgrade would apply,
    oldest first, with the first line of each one's description.
    """

    current: str | None
    head: str
    known: bool
    pending: tuple[tuple[str, str], ...]

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    @property
    def ahead(self) -> bool:
        """The database was migrated by a newer triaged: its revision is unknown here."""
        return self.current is not None and not self.known


def schema_status(engine: Engine) -> SchemaStatus:
    """Compare the database's revision with this code's newest; changes nothing."""
    from alembic.script import ScriptDirectory
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    scripts = ScriptDirectory.from_config(_alembic_config())
    current, head = schema_revision(engine), head_revision()
    try:
        known = current is None or scripts.get_revision(current) is not None
    except (CommandError, RevisionError):
        return SchemaStatus(current, head, False, ())
    pending = tuple(
        (script.revision, next(iter((script.doc or "").strip().splitlines()), ""))
        for script in reversed(list(scripts.iterate_revisions(head, current or "base")))
    )
    return SchemaStatus(current, head, known, pending)


def newer_than_code(status: SchemaStatus) -> str:
    return (f"the database's schema is at {status.current}, which this version of triaged "
            f"does not know (its newest is {status.head}): it was upgraded by a newer "
            "triaged; upgrade triaged to that version, or restore a backup made before the upgrade")


def ensure_schema(engine: Engine, *, migrate_on_start: bool) -> SchemaStatus:
    """Make sure the schema is the newest this code knows, or raise SchemaMismatch.

    A database behind is upgraded when `migrate_on_start` (`[database]
    migrate_on_start`), else refused with a pointer to `triaged migrate`. A
    database ahead of the code (migrated by a newer triaged) is always refused:
    running old code against a newer schema could corrupt it silently.
    Returns the status from before any upgrade.
    """
    head = head_revision()
    if schema_revision(engine) == head:
        return SchemaStatus(head, head, True, ())
    status = schema_status(engine)
    if status.ahead:
        raise SchemaMismatch(newer_than_code(status), ahead=True)
    if status.up_to_date:
        return status
    if not migrate_on_start:
        raise SchemaMismatch(
            f"schema behind: the database is at {status.current or 'no schema yet'}, this "
            f"version needs {status.head}; run `triaged migrate` (migrate_on_start is off)",
            ahead=False,
        )
    migrate(engine)
    log.info("database schema upgraded: %s → %s", status.current or "no schema", status.head)
    return status


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic `upgrade head`).

    Idempotent: at head it does nothing. Needs no alembic.ini, so it works from
    an installed wheel. On SQLite the upgrade holds the write lock throughout,
    so two processes starting together migrate once.
    """
    with schema_change(engine) as conn:
        move_schema(conn, "head")


@contextmanager
def schema_change(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in one write transaction fit for changing tables.

    SQLite changes most tables by rebuilding them (Alembic's batch mode: copy,
    DROP, rename), and with foreign keys enforced, dropping a table that other
    rows point to fails. So, as SQLite's own procedure for schema changes
    says, enforcement is off for the transaction, and `PRAGMA
    foreign_key_check` must find nothing before it commits.
    """
    with writer(engine) as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _driver_pragma(conn, "foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    _refuse_dangling_rows(conn)
        finally:
            if sqlite:
                _driver_pragma(conn, "foreign_keys=ON")


def _driver_pragma(conn: Connection, pragma: str) -> None:
    # Straight to the driver: through SQLAlchemy the statement would open a
    # transaction first, inside which SQLite ignores this pragma.
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dbapi.execute(f"PRAGMA {pragma}")


def _refuse_dangling_rows(conn: Connection) -> None:
    dangling = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if dangling:
        table, rowid, parent, _ = dangling[0]
        raise IntegrityError(
            f"{len(dangling)} row(s) point to rows that do not exist, e.g. {table} row "
            f"{rowid} to a missing {parent}", None, ValueError("foreign key check failed"))


def move_schema(conn: Connection, target: str) -> None:
    """Upgrade, or downgrade, the schema to `target` inside the caller's transaction.

    Downgrading is only used on an empty database (`triaged import` of an
    export made by an older triaged); nothing else ever goes back.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = _alembic_config()
    config.attributes["connection"] = conn
    current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and current != target and target != "head":
        below = ScriptDirectory.from_config(config).iterate_revisions(current, "base")
        if target in {script.revision for script in below}:
            command.downgrade(config, target)
            return
    command.upgrade(config, target)


# Where Alembic records the revision a database is at (its default name and column).
_VERSION_TABLE = table("alembic_version", column("version_num"))


def schema_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None if it was never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(_VERSION_TABLE.name):
            return None
        revisions = conn.execute(select(_VERSION_TABLE.c.version_num)).scalars().all()
    if len(revisions) > 1:
        raise RuntimeError(f"the database records several schema revisions: {revisions}")
    return str(revisions[0]) if revisions else None


def known_revisions() -> frozenset[str]:
    """Every revision this version of triaged can migrate from or to."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config())
    return frozenset(script.revision for script in scripts.walk_revisions())


# A revision file's own name and the one it follows, as Alembic writes them.
_REVISION_LINE = re.compile(r"""^(revision|down_revision)\b[^=\n]*=\s*(?:None|["']([^"']+)["'])""",
                            re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """Return the newest revision this version of triaged knows: the one no other
    revision follows."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for key, name in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            if name:
                (revisions if key == "revision" else followed).add(name)
    heads = sorted(revisions - followed)
    if not heads:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    if len(heads) > 1:
        raise RuntimeError(f"several newest migrations in {MIGRATIONS_DIR}: {heads}")
    return heads[0]
