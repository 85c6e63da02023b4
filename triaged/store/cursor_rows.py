"""Where each mailbox folder was left: UIDVALIDITY and the last UID processed.

Nothing here commits; the poll loop writes the cursor in the same transaction
as the batch of messages it covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from triaged.store.models import metadata

_cursor = metadata.tables["mailbox_cursor"]
_READ = select(
    _cursor.c.uidvalidity, _cursor.c.last_uid, _cursor.c.floor, _cursor.c.quiet_until,
    _cursor.c.left_alone_before,
).where(_cursor.c.mailbox == bindparam("mailbox"), _cursor.c.folder == bindparam("folder"))


@dataclass(frozen=True)
class StoredCursor:
    """A folder's stored cursor (the columns of `models.MailboxCursor` polling reads)."""

    uidvalidity: int
    last_uid: int
    floor: int
    quiet_until: int
    left_alone_before: datetime | None


def read_cursor(conn: Connection, mailbox: str, folder: str) -> StoredCursor | None:
    """The cursor of `mailbox`/`folder`, or None before the first read."""
    row = conn.execute(_READ, {"mailbox": mailbox, "folder": folder}).first()
    if row is None:
        return None
    return StoredCursor(int(row.uidvalidity), int(row.last_uid), int(row.floor),
                        int(row.quiet_until), row.left_alone_before)


def write_cursor(
    conn: Connection,
    mailbox: str,
    folder: str,
    uidvalidity: int,
    last_uid: int,
    *,
    floor: int = 0,
    quiet_until: int = 0,
    left_alone_before: datetime | None = None,
    polled_at: datetime | None = None,
) -> None:
    """Create or overwrite the cursor of `mailbox`/`folder` in the caller's transaction.

    `polled_at`, when given, records that a poll read the folder this far at
    that instant (what `triaged health` and the metrics read); None keeps it.
    """
    values = {"uidvalidity": uidvalidity, "last_uid": last_uid, "floor": floor,
              "quiet_until": quiet_until, "left_alone_before": left_alone_before}
    if polled_at is not None:
        values["polled_at"] = polled_at
    moved = conn.execute(
        update(_cursor).where(_cursor.c.mailbox == mailbox, _cursor.c.folder == folder)
        .values(values)
    ).rowcount
    if moved == 0:
        conn.execute(insert(_cursor), {"mailbox": mailbox, "folder": folder, **values})
