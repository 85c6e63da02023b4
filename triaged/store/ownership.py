"""Which instance reads which mailbox: a PostgreSQL advisory lock per mailbox.

Several triaged instances may share one PostgreSQL database, with the same config
(standby instances) or overlapping ones. Two instances reading one mailbox at once
would each register the same mail and answer it twice, so an instance reads a mailbox
only while it holds `pg_try_advisory_lock(key)`, the key derived from the mailbox's
identity (host, user and folder, not the name in the config). The lock lives on a
connection of its own, outside the pool, for as long as the instance polls that
mailbox: when the process dies, PostgreSQL ends the session and drops the lock, and
another instance takes the mailbox over at its next poll.

Letters need no such lock: every instance sends, and `outbox_rows.claim_letters`
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
_STILL_THERE = text("SELECT 1")


def advisory_key(name: str) -> int:
    """A stable 64-bit advisory lock key for `name` (PostgreSQL takes a signed bigint)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class MailboxLock:
    """Ownership of one mailbox by this process; `held()` asks for it before each poll.

    `label` names the mailbox in log lines. Not thread-safe: one poller uses it.
    """

    def __init__(self, engine: Engine, identity: str, label: str) -> None:
        self.identity = identity
        self.label = label
        self.key = advisory_key(f"triaged:mailbox:{identity}")
        self._shared = engine.dialect.name != "postgresql"
        # A pooled connection could be handed back and reused with the lock still on
        # it; NullPool makes closing the connection end the session, lock included.
        self._engine = None if self._shared else create_engine(engine.url, poolclass=NullPool)
        self._conn: Connection | None = None
        self._skipping = False

    @property
    def is_held(self) -> bool:
        """Whether the last `held()` found the mailbox ours (no database round trip)."""
        return self._shared or self._conn is not None

    def held(self) -> bool:
        """Whether this process may poll the mailbox now; takes the lock when it is free.

        Raises SQLAlchemyError when the database cannot be reached (the poll would
        fail too). Another owner is logged once, and once more when it lets go.
        """
        if self._engine is None:
            return True
        if self._conn is not None:
            if self._alive(self._conn):
                return True
            log.warning("%s: the database connection holding this mailbox was lost; "
                        "taking it again", self.label)
            self._drop()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(_TRY_LOCK, {"key": self.key}).scalar_one())
        except BaseException:
            conn.close()
            raise
        if not got:
            # Idle connections are not kept: a standby asks again at its next poll.
            conn.close()
            if not self._skipping:
                log.info("%s: another instance is reading this mailbox; "
                         "skipping it while that lasts", self.label)
                self._skipping = True
            return False
        self._conn = conn
        if self._skipping:
            log.info("%s: the other instance let go; reading this mailbox now", self.label)
            self._skipping = False
        return True

    def release(self) -> None:
        """Let the mailbox go (closing the session drops the lock); safe to call twice."""
        self._drop()
        if self._engine is not None:
            self._engine.dispose()

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except SQLAlchemyError as error:
                log.debug("%s: closing the lock connection: %s", self.label, error)

    @staticmethod
    def _alive(conn: Connection) -> bool:
        # Session-level advisory locks end only with the session, so a live
        # session still holds the lock.
        try:
            conn.execute(_STILL_THERE)
        except SQLAlchemyError:
            return False
        return True
