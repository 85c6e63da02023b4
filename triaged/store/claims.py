"""Who holds the letters in flight: a sender's claim lives exactly as long as the sender.

Each `Sender` has a `ClaimHolder`; the letters it claims carry its `name`
(`outbox_letter.claimed_by`). Another sender may take a `sending` letter over
the moment its holder is gone, instead of waiting for the lease to run out:

- PostgreSQL: the holder keeps a session-level advisory lock on a connection of
  its own (outside the pool). When the process dies, PostgreSQL ends the session
  and the lock with it; a holder is alive while `pg_locks` shows its lock granted,
  whichever machine it runs on.
- SQLite: every writer runs on this machine, so the name is the process id and
  its start time (`/proc/<pid>/stat`), and a holder is alive while that process
  exists with that start time (a recycled pid is told apart by the start time).

A holder whose liveness cannot be known (no `/proc`, another host's name on
SQLite) counts as alive: its letters wait for the lease, as before.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, text

from triaged.store.ownership import LockSession, advisory_key

log = logging.getLogger("triaged.sender")

_HELD = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND objsubid = 1 AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid)"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_PG_PREFIX = "pg:"


def _pg_key(name: str) -> int:
    return advisory_key(f"triaged:sender:{name}")


class ClaimHolder:
    """This sender's identity in `claimed_by`, kept alive for as long as it sends.

    Not thread-safe: one sender uses it.
    """

    def __init__(self, engine: Engine) -> None:
        self._pg = engine.dialect.name == "postgresql"
        self._session = LockSession(engine, "closing the claim connection", log)
        if self._pg:
            self.name = f"{_PG_PREFIX}{uuid.uuid4().hex}"
        else:
            self.name = _process_name(os.getpid()) or f"{socket.gethostname()}:{uuid.uuid4().hex}"

    def hold(self) -> None:
        """Make sure the claim is alive before claiming letters under it.

        PostgreSQL: takes the advisory lock on first use, and again if its session
        was lost (letters claimed before may then have been taken over: the sender
        records each delivery by letter id, so at worst one goes out twice).
        Raises SQLAlchemyError when the database cannot be reached.
        """
        if not self._pg:
            return
        if self._session.is_open:
            if self._session.alive():
                return
            log.warning("the database session holding this sender's letters was lost; "
                        "taking it again")
            self._session.drop()
        self._session.take(_pg_key(self.name), wait=True)

    def release(self) -> None:
        """Let go (safe to call twice): the letters still claimed are free at once."""
        self._session.release()

    def gone(self, conn: Connection, holders: Iterable[str]) -> list[str]:
        """Those of `holders` (other senders' names) known to be gone."""
        if self._pg:
            return [name for name in holders
                    if name.startswith(_PG_PREFIX) and not _pg_alive(conn, name)]
        here = socket.gethostname()
        return [name for name in holders if _process_gone(name, here)]


def _pg_alive(conn: Connection, name: str) -> bool:
    key = _pg_key(name) & 0xFFFF_FFFF_FFFF_FFFF
    found = conn.execute(_HELD, {"hi": key >> 32, "lo": key & 0xFFFF_FFFF}).scalar_one()
    return int(found) > 0


def _start_time(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot; None if it does not
    exist or cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = data[data.rfind(b")") + 2:].split()
    return fields[19].decode() if len(fields) > 19 else None


def _process_name(pid: int) -> str | None:
    started = _start_time(pid)
    return None if started is None else f"{socket.gethostname()}:{pid}:{started}"


def _process_gone(name: str, here: str) -> bool:
    host, _, rest = name.rpartition(":")
    host, _, pid = host.rpartition(":")
    if host != here or not pid.isdigit() or not os.path.isdir("/proc/self"):
        return False  # unknowable: wait for the lease
    return _start_time(int(pid)) != rest
