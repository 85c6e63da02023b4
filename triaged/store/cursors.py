"""Where each mailbox folder was left: UIDVALIDITY and the last UID processed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, update
from sqlmodel import Session, select

from triaged.store.models import MailboxCursor, metadata


def get_cursor(session: Session, mailbox: str, folder: str) -> MailboxCursor | None:
    """Return the cursor of `mailbox`/`folder`, or None before the first read."""
    return session.exec(
        select(MailboxCursor).where(
            MailboxCursor.mailbox == mailbox, MailboxCursor.folder == folder
        )
    ).first()


def set_cursor(
    session: Session,
    mailbox: str,
    folder: str,
    uidvalidity: int,
    last_uid: int,
    *,
    floor: int = 0,
    quiet_until: int = 0,
    left_alone_before: datetime | None = None,
) -> MailboxCursor:
    """Create or overwrite the cursor of `mailbox`/`folder` in the caller's transaction."""
    cursor = get_cursor(session, mailbox, folder)
    if cursor is None:
        cursor = MailboxCursor(mailbox=mailbox, folder=folder, uidvalidity=0, last_uid=0)
    cursor.uidvalidity = uidvalidity
    cursor.last_uid = last_uid
    cursor.floor = floor
    cursor.quiet_until = quiet_until
    cursor.left_alone_before = left_alone_before
    session.add(cursor)
    session.flush()
    return cursor


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
    """`set_cursor` on a Core connection (the poll loop's batch transaction).

    `polled_at`, when given, records that a poll read the folder this far at
    that instant (what `triaged health` and the metrics read); None keeps it.
    """
    table = metadata.tables["mailbox_cursor"]
    values = {"uidvalidity": uidvalidity, "last_uid": last_uid, "floor": floor,
              "quiet_until": quiet_until, "left_alone_before": left_alone_before}
    if polled_at is not None:
        values["polled_at"] = polled_at
    moved = conn.execute(
        update(table).where(table.c.mailbox == mailbox, table.c.folder == folder).values(values)
    ).rowcount
    if moved == 0:
        conn.execute(insert(table), {"mailbox": mailbox, "folder": folder, **values})
