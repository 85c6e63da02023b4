"""Where each mailbox folder was left: UIDVALIDITY and the last UID processed."""

from __future__ import annotations

from sqlmodel import Session, select

from triaged.store.models import MailboxCursor


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
) -> MailboxCursor:
    """Create or overwrite the cursor of `mailbox`/`folder` in the caller's transaction."""
    cursor = get_cursor(session, mailbox, folder)
    if cursor is None:
        cursor = MailboxCursor(mailbox=mailbox, folder=folder, uidvalidity=0, last_uid=0)
    cursor.uidvalidity = uidvalidity
    cursor.last_uid = last_uid
    cursor.floor = floor
    cursor.quiet_until = quiet_until
    session.add(cursor)
    session.flush()
    return cursor
