"""Which message is being handled, and how often the process stopped while handling it.

A poller marks a message of a folder in flight (`begin`, in a transaction the
caller commits while the message is read) when its reading takes a while;
`finish` and `forget` delete the marks of messages whose outcomes commit. A process that starts
and finds a folder's mark still in flight was stopped while handling that
message (killed, crashed, out of memory): `begin(first=True)` counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, select, update

from triaged.domain.records import RawMail
from triaged.store.models import ReadingAttempt

_table = ReadingAttempt.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Attempt:
    """A message's mark: its row, and how often the process stopped while handling it."""

    id: int
    stops: int


def begin(conn: Connection, raw: RawMail, sha256: str, now: datetime, *,
          first: bool) -> Attempt:
    """Mark `raw` in flight; return its mark.

    `first`: this process has not begun a message of this folder yet, so a
    mark still in flight is one a stopped process left (counted); otherwise it
    is the previous message of this poll, whose reading finished.
    """
    folder = and_(_table.c.mailbox == raw.mailbox, _table.c.folder == raw.folder,
                  _table.c.in_flight.is_(True))
    values: dict[str, object] = {"in_flight": False}
    if first:
        values["stops"] = _table.c.stops + 1
    conn.execute(update(_table).where(folder).values(**values))
    this = _this(raw, sha256)
    found = conn.execute(select(_table.c.id, _table.c.stops).where(this)).first()
    if found is None:
        inserted = conn.execute(insert(_table).values(
            mailbox=raw.mailbox, folder=raw.folder, uidvalidity=raw.uidvalidity, uid=raw.uid,
            sha256=sha256, stops=0, in_flight=True, started_at=now)).inserted_primary_key
        assert inserted is not None
        return Attempt(int(inserted[0]), 0)
    conn.execute(update(_table).where(_table.c.id == found.id)
                 .values(in_flight=True, started_at=now))
    return Attempt(int(found.id), int(found.stops))


def finish(conn: Connection, attempts: list[Attempt]) -> None:
    """Forget these marks: the outcomes of their messages commit with this transaction."""
    if attempts:
        conn.execute(delete(_table).where(_table.c.id.in_([a.id for a in attempts])))


def forget(conn: Connection, raws: list[RawMail]) -> None:
    """Forget any mark of these messages (one statement per folder): their outcomes
    commit with this transaction, whether or not this process marked them."""
    folders: dict[tuple[str, str, int], list[int]] = {}
    for raw in raws:
        folders.setdefault((raw.mailbox, raw.folder, raw.uidvalidity), []).append(raw.uid)
    for (mailbox, folder, uidvalidity), uids in folders.items():
        conn.execute(delete(_table).where(
            _table.c.mailbox == mailbox, _table.c.folder == folder,
            _table.c.uidvalidity == uidvalidity, _table.c.uid.in_(uids)))


def _this(raw: RawMail, sha256: str) -> ColumnElement[bool]:
    return and_(_table.c.mailbox == raw.mailbox, _table.c.folder == raw.folder,
                _table.c.uidvalidity == raw.uidvalidity, _table.c.uid == raw.uid,
                _table.c.sha256 == sha256)
