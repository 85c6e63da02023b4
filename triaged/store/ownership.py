"""Which instance reads which mailbox: a PostgreSQL advisory lock per mailbox.

Several triaged instances may share one PostgreSQL database, with the same config
(standby instances) or overlapping ones. Two instances reading one mailbox at once
would each register the same mail and answer it twice, so an instance reads a mailbox
only while it holds `pg_try_advisory_lock(key)`, the key derived from the mailbox's
identity (host, user and folder, not the name in the config). The lock lives on a
connection of its own, outside the pool, for as long as the instance polls that
mailbox: when the process dies, PostgreSQL ends the session and drops the lock, and
another instance takes the mailbox over at its next poll.

Letters need no such lock: every instance sends, and `letter_claims.claim_letters`
hands each letter to one of them (`FOR UPDATE SKIP LOCKED`).

On SQLite there is one instance per database file: the lock is always held and
costs nothing.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger("triaged.ownership")

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_LOCK = text("SELECT pg_advisory_lock(:key)")
_STILL_THERE = text("SELECT 1")
_LOCK_IN_TRANSACTION = text("SELECT pg_advisory_xact_lock(:key)")
_LOCK_ALL_IN_TRANSACTION = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k")
# The transaction-level locks the connection's current transaction holds.
_HELD = "triaged_xact_locks"


def advisory_key(name: str) -> int:
    """A stable 64-bit advisory lock key for `name` (PostgreSQL takes a signed bigint)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def takes_locks(conn: Connection) -> bool:
    """Whether `lock_until_commit` takes any on `conn` (PostgreSQL's writers do not
    take turns, SQLite's do): a caller may then skip naming them."""
    return conn.dialect.name == "postgresql"


def lock_until_commit(conn: Connection, *names: str) -> None:
    """Hold the advisory locks named `names` until the caller's transaction ends
    (PostgreSQL; SQLite's writers take turns anyway).

    Locks this transaction already holds are not asked for again, and the rest
    are taken in one statement, in key order: a batch takes its messages' locks
    at its start in one round trip, not two per message.
    """
    if not takes_locks(conn):
        return
    transaction = conn.get_transaction()
    owner, held = conn.info.get(_HELD, (None, set()))
    if owner is not transaction:  # the locks of an earlier transaction are gone
        held = set()
        conn.info[_HELD] = (transaction, held)
    keys = sorted({advisory_key(name) for name in names} - held)
    if len(keys) == 1:
        conn.execute(_LOCK_IN_TRANSACTION, {"key": keys[0]})
    elif keys:
        conn.execute(_LOCK_ALL_IN_TRANSACTION, {"keys": keys})
    held.update(keys)


def forget_locks_held(conn: Connection) -> None:
    """A savepoint was rolled back: the locks taken inside it went with it, and which
    those were is not kept, so every lock is asked for again (asking is harmless)."""
    conn.info.pop(_HELD, None)


class LockSession:
    """A PostgreSQL session of its own, outside the pool, holding a session-level advisory
    lock: the lock ends with the session, so it goes when the process dies or `release`s.

    `what` names the connection in debug lines, on `logger`. Not thread-safe.
    """

    def __init__(self, engine: Engine, what: str, logger: logging.Logger) -> None:
        self._url = engine.url
        self._what = what
        self._log = logger
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def alive(self) -> bool:
        """Whether the session is open and still answers (so it still holds its lock)."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(_STILL_THERE)
        except SQLAlchemyError:
            return False
        return True

    def take(self, key: int, *, wait: bool) -> bool:
        """Open a session and lock `key` on it (`wait`: until it is free; else only if it
        is free now). A session that did not get the lock is closed at once."""
        if self._engine is None:
            # A pooled connection could be handed back and reused with the lock still on
            # it; NullPool makes closing the connection end the session, lock included.
            self._engine = create_engine(self._url, poolclass=NullPool)
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if wait:
                conn.execute(_LOCK, {"key": key})
                got = True
            else:
                got = bool(conn.execute(_TRY_LOCK, {"key": key}).scalar_one())
        except BaseException:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def drop(self) -> None:
        """Close the session (and so let the lock go); safe to call twice."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except SQLAlchemyError as error:
                self._log.debug("%s: %s", self._what, error)

    def release(self) -> None:
        """`drop`, and close the session's engine too."""
        self.drop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class MailboxLock:
    """Ownership of one mailbox by this process; `held()` asks for it before each poll.

    `label` names the mailbox in log lines. Not thread-safe: one poller uses it.
    """

    def __init__(self, engine: Engine, identity: str, label: str) -> None:
        self.identity = identity
        self.label = label
        self.key = advisory_key(f"triaged:mailbox:{identity}")
        self._shared = engine.dialect.name != "postgresql"
        self._session = LockSession(engine, f"{label}: closing the lock connection", log)
        self._skipping = False

    @property
    def is_held(self) -> bool:
        """Whether the last `held()` found the mailbox ours (no database round trip)."""
        return self._shared or self._session.is_open

    def held(self) -> bool:
        """Whether this process may poll the mailbox now; takes the lock when it is free.

        Raises SQLAlchemyError when the database cannot be reached (the poll would
        fail too). Another owner is logged once, and once more when it lets go.
        """
        if self._shared:
            return True
        if self._session.is_open:
            # Session-level advisory locks end only with the session, so a live
            # session still holds the lock.
            if self._session.alive():
                return True
            log.warning("%s: the database connection holding this mailbox was lost; "
                        "taking it again", self.label)
            self._session.drop()
        # Idle connections are not kept: a standby asks again at its next poll.
        if not self._session.take(self.key, wait=False):
            if not self._skipping:
                log.info("%s: another instance is reading this mailbox; "
                         "skipping it while that lasts", self.label)
                self._skipping = True
            return False
        if self._skipping:
            log.info("%s: the other instance let go; reading this mailbox now", self.label)
            self._skipping = False
        return True

    def release(self) -> None:
        """Let the mailbox go (closing the session drops the lock); safe to call twice."""
        self._session.release()
