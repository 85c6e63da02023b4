"""The quarantine: messages triaged could not process, parked with their reason for staff.

A parked message stays stored whole (raw bytes included, up to `[limits]
raw_max`) and counted; staff replay it after a fix or discard it. Nothing here
commits; callers run these inside their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from triaged.domain.events import Event
from triaged.domain.records import EventKind
from triaged.store.journal import Journal
from triaged.store.models import QUARANTINE_STATES, metadata

_message = metadata.tables["message"]
_quarantine = metadata.tables["quarantine"]

_INSERT_QUARANTINE = insert(_quarantine).returning(_quarantine.c.id)
_ENTRIES = (
    select(_quarantine.c.id, _quarantine.c.reason, _quarantine.c.state,
           _quarantine.c.created_at, _quarantine.c.message_row_id, _message.c.complaint_id,
           _message.c.mailbox, _message.c.folder, _message.c.uidvalidity, _message.c.uid,
           _message.c.message_id, _message.c.sha256, _message.c.size, _message.c.received_at,
           _message.c.reason.label("stored_note"), _message.c.raw)
    .join(_message, _message.c.id == _quarantine.c.message_row_id)
    .order_by(_quarantine.c.id)
)


@dataclass(frozen=True)
class Parked:
    """One quarantine entry with the stored message it parks.

    `reason` is why it was parked; `stored_note` the message row's own reason
    (which says whether its raw bytes were cut at the cap).
    """

    id: int
    reason: str
    state: str
    created_at: datetime
    message_row_id: int
    complaint_id: int | None
    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str
    sha256: str
    size: int
    received_at: datetime
    stored_note: str
    raw: bytes | None


def _parked(row: Any) -> Parked:
    return Parked(int(row.id), row.reason, row.state, row.created_at, int(row.message_row_id),
                  row.complaint_id, row.mailbox, row.folder, int(row.uidvalidity),
                  int(row.uid), row.message_id, row.sha256, int(row.size), row.received_at,
                  row.stored_note, bytes(row.raw) if row.raw is not None else None)


def insert_quarantine(conn: Connection, message_row_id: int, reason: str, now: datetime) -> int:
    """Park a stored message for staff (its row must already say `quarantined`)."""
    result = conn.execute(
        _INSERT_QUARANTINE,
        {"message_row_id": message_row_id, "reason": reason, "state": "open",
         "created_at": now},
    )
    return int(result.scalar_one())


def list_quarantine(conn: Connection, state: str | None = "open") -> list[Parked]:
    """Quarantine entries in `state` (all when None), oldest first."""
    query = _ENTRIES if state is None else _ENTRIES.where(_quarantine.c.state == state)
    return [_parked(row) for row in conn.execute(query)]


def get_quarantine(conn: Connection, quarantine_id: int) -> Parked | None:
    """One quarantine entry with its message, or None."""
    row = conn.execute(_ENTRIES.where(_quarantine.c.id == quarantine_id)).first()
    return _parked(row) if row is not None else None


def set_quarantine_state(
    conn: Connection, quarantine_id: int, state: str, now: datetime, *, actor: str = "system"
) -> Parked:
    """Mark an open quarantine entry `replayed` or `discarded`, and log it.

    Raises `LookupError` for an unknown id and `ValueError` for an unknown
    state or an entry that is no longer open.
    """
    if state not in QUARANTINE_STATES or state == "open":
        raise ValueError(f"quarantine state must be replayed or discarded, not {state!r}")
    parked = get_quarantine(conn, quarantine_id)
    if parked is None:
        raise LookupError(f"no quarantine entry {quarantine_id}")
    # Conditional on `open`: of two staff acting at once, only one changes it.
    if parked.state == "open":
        moved = conn.execute(
            update(_quarantine)
            .where(_quarantine.c.id == quarantine_id, _quarantine.c.state == "open")
            .values(state=state)
        ).rowcount
        parked = parked if moved == 1 else (get_quarantine(conn, quarantine_id) or parked)
    if parked.state != "open":
        raise ValueError(f"quarantine entry {quarantine_id} is already {parked.state}")
    with Journal(conn) as journal:
        journal.record(Event(parked.complaint_id, EventKind(f"quarantine_{state}"), now, actor,
                             parked.message_row_id,
                             {"quarantine_id": quarantine_id, "reason": parked.reason}))
    return replace(parked, state=state)

