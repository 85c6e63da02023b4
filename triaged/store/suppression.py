"""Addresses that bounced hard: recorded once, checked before a letter is queued or sent.

Nothing here commits; callers run these inside their own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from triaged.store.models import metadata

_suppressed = metadata.tables["suppressed_address"]
_IS_SUPPRESSED = select(_suppressed.c.email).where(
    _suppressed.c.email.in_(bindparam("emails", expanding=True))
)
_INSERT = {
    name: dialect.insert(_suppressed).on_conflict_do_nothing(index_elements=[_suppressed.c.email])
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def suppressed_among(conn: Connection, emails: Iterable[str]) -> set[str]:
    """The lower-cased addresses among `emails` that must receive nothing more."""
    wanted = sorted({email.lower() for email in emails if email})
    if not wanted:
        return set()
    return {row[0] for row in conn.execute(_IS_SUPPRESSED, {"emails": wanted})}


def is_suppressed(conn: Connection, email: str) -> bool:
    return bool(suppressed_among(conn, [email]))


def suppress(
    conn: Connection, email: str, *, reason: str, message_row_id: int | None, now: datetime
) -> bool:
    """Record `email` as hard-bounced; False when it already was."""
    statement = _INSERT.get(conn.dialect.name)
    if statement is None:
        raise NotImplementedError(f"no suppression insert for {conn.dialect.name}")
    result = conn.execute(statement, {"email": email.lower(), "reason": reason,
                                      "message_row_id": message_row_id, "created_at": now})
    return bool(result.rowcount)
