"""Addresses whose mail failed, as genuine bounces said: suppressions and alerts.

A suppression (`stops_mail`) is a customer's address that bounced hard:
checked before a letter is queued or sent, nothing goes to it again until the
operator lifts it. An alert is one of the business's own addresses (staff,
manager, forwarder, mailbox) whose mail failed: it is never stopped, and the
alert is open until a letter to it is sent after the latest failure or the
operator lifts it.

Nothing here commits; callers run these inside their own transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from triaged.domain.clock import as_utc
from triaged.domain.records import LetterState
from triaged.store.models import metadata

_suppressed = metadata.tables["suppressed_address"]
_letter = metadata.tables["outbox_letter"]
_IS_SUPPRESSED = select(_suppressed.c.email).where(
    _suppressed.c.email.in_(bindparam("emails", expanding=True)), _suppressed.c.stops_mail
)
# Whether the address bound as "email" (lower-cased) must receive nothing more: one
# clause, for the checks that ask it together with something else in one statement.
STOPS_MAIL = exists().where(_suppressed.c.email == bindparam("email"), _suppressed.c.stops_mail)
_INSERT = {
    name: dialect.insert(_suppressed).on_conflict_do_nothing(index_elements=[_suppressed.c.email])
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
# A letter to the address accepted by the server after its latest failure.
_DELIVERED_SINCE = exists().where(
    func.lower(_letter.c.to_email) == _suppressed.c.email,
    _letter.c.state == LetterState.SENT.value,
    _letter.c.sent_at > _suppressed.c.created_at,
)
_ENTRY = select(_suppressed.c.email, _suppressed.c.reason, _suppressed.c.created_at,
                _suppressed.c.stops_mail, _DELIVERED_SINCE.label("cleared"))


@dataclass(frozen=True)
class Entry:
    """One row, as `triaged suppression list` shows it."""

    email: str
    reason: str
    since: datetime
    stops_mail: bool
    # An alert whose address has received a letter since: no longer a problem.
    cleared: bool


def suppressed_among(conn: Connection, emails: Iterable[str]) -> set[str]:
    """The lower-cased addresses among `emails` that must receive nothing more."""
    wanted = sorted({email.lower() for email in emails if email})
    if not wanted:
        return set()
    return {row[0] for row in conn.execute(_IS_SUPPRESSED, {"emails": wanted})}


def suppress(
    conn: Connection, email: str, *, reason: str, message_row_id: int | None, now: datetime
) -> bool:
    """Record `email` as hard-bounced; False when it already was (or has an alert)."""
    statement = _INSERT.get(conn.dialect.name)
    if statement is None:
        raise NotImplementedError(f"no suppression insert for {conn.dialect.name}")
    result = conn.execute(statement, {"email": email.lower(), "reason": reason,
                                      "message_row_id": message_row_id, "created_at": now,
                                      "stops_mail": True})
    return bool(result.rowcount)


def troubled_among(conn: Connection, emails: Iterable[str]) -> set[str]:
    """The lower-cased addresses among `emails` that are suppressed or have an open alert."""
    wanted = sorted({email.lower() for email in emails if email})
    if not wanted:
        return set()
    found = conn.execute(_ENTRY.where(_suppressed.c.email.in_(wanted))).all()
    return {entry.email for entry in map(_entry, found) if not entry.cleared}


def raise_alert(
    conn: Connection, email: str, *, reason: str, message_row_id: int | None, now: datetime
) -> bool:
    """Record a failure of one of the business's own addresses (never a suppression).

    True when this opens an alert: none was on record, the last one had been
    cleared by a later delivery, or the address had been suppressed (it is
    released: the business's own addresses are never stopped).
    """
    email = email.lower()
    found = conn.execute(
        select(_suppressed.c.stops_mail, _DELIVERED_SINCE.label("cleared"))
        .where(_suppressed.c.email == email)
    ).first()
    values = {"reason": reason, "message_row_id": message_row_id, "created_at": now,
              "stops_mail": False}
    if found is None:
        conn.execute(_suppressed.insert().values(email=email, **values))
        return True
    conn.execute(update(_suppressed).where(_suppressed.c.email == email).values(**values))
    return bool(found.stops_mail or found.cleared)


def entries(conn: Connection) -> list[Entry]:
    """Every suppression and alert, newest first."""
    found = conn.execute(
        _ENTRY.order_by(_suppressed.c.created_at.desc(), _suppressed.c.id.desc())
    ).all()
    return [_entry(row) for row in found]


def open_problems(conn: Connection, own_addresses: Iterable[str]) -> list[Entry]:
    """Alerts not yet cleared, and suppressions of `own_addresses` (rows written
    before those addresses were protected): what the health check reports."""
    own = sorted({email.lower() for email in own_addresses if email})
    found = conn.execute(
        _ENTRY.where(and_(~_suppressed.c.stops_mail, ~_DELIVERED_SINCE)
               | and_(_suppressed.c.stops_mail, _suppressed.c.email.in_(own)))
        .order_by(_suppressed.c.email)
    ).all()
    return [_entry(row) for row in found]


def lift(conn: Connection, email: str) -> Entry | None:
    """Remove the suppression or alert of `email` (any case); the row removed, if any."""
    email = email.strip().lower()
    found = conn.execute(_ENTRY.where(_suppressed.c.email == email)).first()
    if found is None:
        return None
    conn.execute(delete(_suppressed).where(_suppressed.c.email == email))
    return _entry(found)


def _entry(row: Row[Any]) -> Entry:
    stops = bool(row.stops_mail)
    return Entry(str(row.email), str(row.reason), as_utc(row.created_at), stops,
                 not stops and bool(row.cleared))
