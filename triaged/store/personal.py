"""Which columns hold a person's data, and erasing one customer's rows in every table.

Every column of every table is classified here, in one place: `PERSONAL` names
the columns that hold a person's address, name, words or mail, with what each
becomes when erased; `KEPT` names the ones that stay because reports and
`stats` need them (category, priority, dates, states, escalation level, the
letters' kinds and states, outcomes) or because they mean nothing about a
person (ids, folders, counters, token digests). A table or column that is in
neither fails the unit test that checks this module against `models.py`, so a
new table (attachments, say) is classified, and therefore erased and exported,
the day it is added. A table with a `complaint_id` or `message_row_id` column
is reached through those without more code.

An erased complaint keeps its row with the reference `erased:<id>`: no quoted
reference, Message-ID or In-Reply-To can thread new mail into it, so a
customer who writes again is a new customer. Its messages keep their outcome
and dates (the `stats` counts), lose raw bytes, hash, Message-ID, sender,
subject and text. Letters keep kind, state and dates; a letter still waiting
to be sent is cancelled (failed, with the reason). Events keep kind, time and,
for state changes, the two states; their other detail is dropped. Suppression
entries of the address are deleted.

Every function works on the caller's connection; the caller's one transaction
makes an erasure all or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, Text, cast, delete, literal, or_, select, update

from triaged.domain.mailbox_key import DOTLESS_DOMAINS, mailbox_key
from triaged.domain.records import EventKind, LetterState
from triaged.store.models import metadata
from triaged.store.rows import encode_detail

ERASED_PREFIX = "erased:"
CANCELLED = "cancelled: the customer's personal data was erased"

# Columns that hold a person's data, with the value each takes when erased.
# `complaint.reference`, `outbox_letter.message_id` (unique) and `event.detail`
# / `event.actor` are rewritten by `erase` itself and listed with None here.
PERSONAL: dict[str, dict[str, Any]] = {
    "complaint": {"reference": None, "customer_email": "", "customer_name": "", "subject": "",
                  "customer_key": "", "forwarded_by": "", "linked_reference": "",
                  "nudge_at": None},
    "message": {"message_id": "", "sha256": "", "raw": None, "sender": "", "subject": "",
                "text": "", "reason": ""},
    "event": {"detail": None, "actor": None},
    "outbox_letter": {"to_email": "", "to_key": "", "about_key": "", "message_id": None,
                      "subject": "", "raw": b"", "last_error": ""},
    "suppressed_address": {"email": None, "reason": None},  # the row is deleted
    "quarantine": {"reason": ""},
    "used_token": {"used_by": ""},
    "draft": {"text": "", "author": ""},
    "mailbox_cursor": {},
    "reading_attempt": {},
    "report_run": {},
    # A file's name and the link to its bytes go; bytes no other file shares are deleted.
    "attachment": {"name": "", "sha256": None, "content_id": "", "reason": ""},
    "blob": {"sha256": None, "size": None, "data": None},  # the row is deleted
}

# Columns that stay: what reports need, and what says nothing about a person.
KEPT: dict[str, frozenset[str]] = {
    "complaint": frozenset({"id", "mailbox", "state", "language", "received_at", "due_at",
                            "escalation_level", "category", "priority", "reminded",
                            "created_at", "updated_at"}),
    "message": frozenset({"id", "mailbox", "folder", "uidvalidity", "uid", "size", "sent_date",
                          "outcome", "rule", "complaint_id", "duplicate_of", "received_at"}),
    "event": frozenset({"id", "complaint_id", "message_row_id", "at", "kind"}),
    "outbox_letter": frozenset({"id", "complaint_id", "kind", "automatic", "state", "attempts",
                                "next_attempt_at", "created_at", "sent_at", "tried_at",
                                "claimed_by"}),
    "suppressed_address": frozenset({"id", "message_row_id", "created_at", "stops_mail"}),
    "quarantine": frozenset({"id", "message_row_id", "state", "created_at"}),
    "used_token": frozenset({"id", "digest", "purpose", "complaint_id", "message_row_id",
                             "used_at"}),
    "draft": frozenset({"id", "complaint_id", "version", "source", "message_row_id",
                        "created_at"}),
    "mailbox_cursor": frozenset({"id", "mailbox", "folder", "uidvalidity", "last_uid", "floor",
                                 "quiet_until", "left_alone_before", "polled_at"}),
    "reading_attempt": frozenset({"id", "mailbox", "folder", "uidvalidity", "uid", "sha256",
                                  "stops", "in_flight", "started_at"}),
    # Which owner's reports went out: periods, no person.
    "report_run": frozenset({"id", "period", "since", "until", "created_at"}),
    "attachment": frozenset({"id", "complaint_id", "message_row_id", "n", "content_type",
                             "size", "direction", "draft_version", "inline", "created_at"}),
    "blob": frozenset(),
}

# Tables whose rows are handled one by one in `erase`; any other table with a
# `complaint_id` or `message_row_id` column is blanked generically.
_SPECIAL = frozenset({"complaint", "message", "event", "outbox_letter", "suppressed_address"})
_WAITING = (LetterState.QUEUED.value, LetterState.SENDING.value, LetterState.HELD.value)
# Event detail kept after erasure: what the reports read (a state change's two states).
_KEPT_DETAIL = {EventKind.STATE_CHANGED.value: ("from", "to")}

_complaint = metadata.tables["complaint"]
_message = metadata.tables["message"]
_event = metadata.tables["event"]
_letter = metadata.tables["outbox_letter"]
_suppressed = metadata.tables["suppressed_address"]
_attachment = metadata.tables["attachment"]
_blob = metadata.tables["blob"]


@dataclass
class Scope:
    """One customer's rows: by mailbox key, their complaints and the messages of theirs."""

    key: str
    complaint_ids: list[int] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    # Every spelling of the address found stored (case, +detail): searched in texts.
    spellings: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.complaint_ids and not self.message_ids


def is_erased(reference: str) -> bool:
    return reference.startswith(ERASED_PREFIX)


def customer_scope(
    conn: Connection, key: str, dotless: frozenset[str] = DOTLESS_DOMAINS,
) -> Scope:
    """Every complaint (not yet erased) and message of the customer whose mailbox key is `key`."""
    scope = Scope(key)
    for cid, email, reference in conn.execute(
        select(_complaint.c.id, _complaint.c.customer_email, _complaint.c.reference)
        .where(~_complaint.c.reference.startswith(ERASED_PREFIX))
    ):
        if mailbox_key(email, dotless) == key:
            scope.complaint_ids.append(int(cid))
            scope.spellings.add(email)
            scope.references.append(reference)
    _add_messages(conn, scope, _message.c.sender != "", dotless)
    return scope


def complaints_scope(
    conn: Connection, key: str, complaint_ids: Sequence[int], before: datetime,
    dotless: frozenset[str] = DOTLESS_DOMAINS,
) -> Scope:
    """Retention's scope: these complaints of one customer, and that customer's messages
    belonging to no complaint received before `before`."""
    scope = Scope(key)
    for cid, email, reference in conn.execute(
        select(_complaint.c.id, _complaint.c.customer_email, _complaint.c.reference)
        .where(_complaint.c.id.in_(list(complaint_ids)))
    ):
        scope.complaint_ids.append(int(cid))
        scope.spellings.add(email)
        scope.references.append(reference)
    _add_messages(conn, scope, (_message.c.complaint_id.is_(None)) & (_message.c.sender != "")
                  & (_message.c.received_at < before), dotless)
    return scope


def _add_messages(conn: Connection, scope: Scope, where: Any, dotless: frozenset[str]) -> None:
    ids: set[int] = set()
    if scope.complaint_ids:
        ids.update(int(i) for i, in conn.execute(
            select(_message.c.id).where(_message.c.complaint_id.in_(scope.complaint_ids))))
    for mid, sender in conn.execute(select(_message.c.id, _message.c.sender).where(where)):
        if mailbox_key(sender, dotless) == scope.key:
            ids.add(int(mid))
            scope.spellings.add(sender)
    if ids:
        # Duplicates of their messages are theirs too.
        ids.update(int(i) for i, in conn.execute(
            select(_message.c.id).where(_message.c.duplicate_of.in_(sorted(ids)))))
    scope.message_ids = sorted(ids)


def final_complaints_before(conn: Connection, before: datetime) -> list[tuple[int, str]]:
    """(id, customer address) of resolved or closed complaints, not yet erased, last
    changed before `before`: what retention anonymises."""
    return [(int(cid), email) for cid, email in conn.execute(
        select(_complaint.c.id, _complaint.c.customer_email)
        .where(_complaint.c.state.in_(("resolved", "closed")),
               _complaint.c.updated_at < before,
               ~_complaint.c.reference.startswith(ERASED_PREFIX))
        .order_by(_complaint.c.id))]


def orphan_senders_before(conn: Connection, before: datetime) -> list[str]:
    """Senders of stored messages that belong to no complaint, received before `before`."""
    return [str(s) for s, in conn.execute(
        select(_message.c.sender).distinct()
        .where(_message.c.complaint_id.is_(None), _message.c.sender != "",
               _message.c.received_at < before))]


def linked_tables() -> list[Table]:
    """Tables reached through `complaint_id` / `message_row_id`, beyond the special ones."""
    return [t for t in metadata.sorted_tables if t.name not in _SPECIAL
            and ("complaint_id" in t.c or "message_row_id" in t.c)]


def _linked(table: Table, scope: Scope) -> Any:
    conditions = []
    if "complaint_id" in table.c and scope.complaint_ids:
        conditions.append(table.c.complaint_id.in_(scope.complaint_ids))
    if "message_row_id" in table.c and scope.message_ids:
        conditions.append(table.c.message_row_id.in_(scope.message_ids))
    return or_(*conditions) if conditions else None


# Texts searched per statement: SQLite limits the depth of one expression.
_NEEDLES_PER_QUERY = 50


def _mentioning(conn: Connection, table: Table, column: Any,
                needles: Sequence[str | bytes]) -> set[int]:
    """Ids of `table`'s rows whose `column` holds one of `needles`."""
    found: set[int] = set()
    wanted = [n for n in needles if n]
    for start in range(0, len(wanted), _NEEDLES_PER_QUERY):
        chunk = wanted[start:start + _NEEDLES_PER_QUERY]
        found.update(int(i) for i, in conn.execute(
            select(table.c.id).where(or_(*(column.contains(n) for n in chunk)))))
    return found


def letter_ids(conn: Connection, scope: Scope) -> list[int]:
    """The letters of a customer: of their complaints, to them, about them, or naming them."""
    conditions = [_letter.c.to_key == scope.key, _letter.c.about_key == scope.key]
    if scope.complaint_ids:
        conditions.append(_letter.c.complaint_id.in_(scope.complaint_ids))
    ids = {int(i) for i, in conn.execute(select(_letter.c.id).where(or_(*conditions)))}
    # Digests and notices about several complaints name them in their text.
    ids |= _mentioning(conn, _letter, _letter.c.raw,
                       [n.encode() for n in (*sorted(scope.spellings), *scope.references)])
    return sorted(ids)


def event_ids(conn: Connection, scope: Scope) -> list[int]:
    conditions = []
    if scope.complaint_ids:
        conditions.append(_event.c.complaint_id.in_(scope.complaint_ids))
    if scope.message_ids:
        conditions.append(_event.c.message_row_id.in_(scope.message_ids))
    ids = ({int(i) for i, in conn.execute(select(_event.c.id).where(or_(*conditions)))}
           if conditions else set())
    ids |= _mentioning(conn, _event, _event.c.detail,
                       [*sorted(scope.spellings), *scope.references])
    return sorted(ids)


def erase(conn: Connection, scope: Scope, *, now: datetime, own: Collection[str],
          dotless: frozenset[str] = DOTLESS_DOMAINS) -> dict[str, int]:
    """Erase `scope`'s personal data in every table; returns rows changed per table
    (`cancelled`: letters that were still waiting to be sent).

    `own` are the business's own mailbox keys: staff and managers named as an
    event's actor stay, anyone else becomes "erased".
    """
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # What the updates below free is overwritten with zeros, not left readable in
        # free space (the cost is paid by this connection only, while it erases).
        conn.exec_driver_sql("PRAGMA secure_delete = ON")
    counts = _erase_letters(conn, scope, now)
    counts["event"] = _erase_events(conn, _event.c.id.in_(event_ids(conn, scope)), own, dotless)
    for table in linked_tables():
        personal = {k: v for k, v in PERSONAL[table.name].items() if v is not None}
        condition = _linked(table, scope)
        counts[table.name] = (conn.execute(update(table).where(condition).values(**personal))
                              .rowcount if personal and condition is not None else 0)
    counts["blob"] = _forget_files(conn, scope)
    counts["suppressed_address"] = _forget_suppressions(conn, scope, dotless)
    counts.update(_erase_complaints(conn, scope))
    if sqlite:
        conn.exec_driver_sql("PRAGMA secure_delete = OFF")
    return counts


def _erase_letters(conn: Connection, scope: Scope, now: datetime) -> dict[str, int]:
    """Cancel the scope's letters still waiting to be sent, then blank them all."""
    letters = _letter.c.id.in_(letter_ids(conn, scope))
    cancelled = conn.execute(
        update(_letter).where(letters, _letter.c.state.in_(_WAITING))
        .values(state=LetterState.FAILED.value, last_error=CANCELLED, next_attempt_at=now)
    ).rowcount
    blank = {k: v for k, v in PERSONAL["outbox_letter"].items() if v is not None}
    blanked = conn.execute(
        update(_letter).where(letters).values(
            message_id=literal(ERASED_PREFIX, Text) + cast(_letter.c.id, Text), **blank)
    ).rowcount
    return {"cancelled": cancelled, "outbox_letter": blanked}


def _erase_complaints(conn: Connection, scope: Scope) -> dict[str, int]:
    """Blank the scope's messages and complaints (a complaint keeps an erased reference)."""
    counts = {"message": 0, "complaint": 0}
    if scope.message_ids:
        counts["message"] = conn.execute(
            update(_message).where(_message.c.id.in_(scope.message_ids))
            .values(**PERSONAL["message"])).rowcount
    if scope.complaint_ids:
        blank = {k: v for k, v in PERSONAL["complaint"].items() if k != "reference"}
        counts["complaint"] = conn.execute(
            update(_complaint).where(_complaint.c.id.in_(scope.complaint_ids)).values(
                reference=literal(ERASED_PREFIX, Text) + cast(_complaint.c.id, Text), **blank)
        ).rowcount
    return counts


def _forget_files(conn: Connection, scope: Scope) -> int:
    """Unlink the scope's files from their bytes; delete the bytes no file links to any
    more (another customer who sent the same file keeps it)."""
    condition = _linked(_attachment, scope)
    if condition is None:
        return 0
    conn.execute(update(_attachment).where(condition).values(sha256=None))
    linked = select(_attachment.c.sha256).where(_attachment.c.sha256.is_not(None))
    return conn.execute(delete(_blob).where(_blob.c.sha256.not_in(linked))).rowcount


def flush_freed(engine: Engine) -> bool:
    """SQLite: copy the WAL into the database file and empty it, so the old pages of an
    erasure are nowhere on disk; False when a reader kept some of it from being copied
    (the next checkpoint finishes it). PostgreSQL: nothing to do here (VACUUM reclaims)."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as conn:
        busy, _log, _copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    return not busy


def _erase_events(conn: Connection, condition: Any, own: Collection[str],
                  dotless: frozenset[str]) -> int:
    changed = 0
    for eid, kind, actor, detail in conn.execute(
        select(_event.c.id, _event.c.kind, _event.c.actor, _event.c.detail).where(condition)
    ):
        kept: dict[str, Any] = {}
        keys = _KEPT_DETAIL.get(kind, ())
        if keys:
            try:
                parsed = json.loads(detail or "{}")
            except ValueError:
                parsed = {}
            kept = {k: parsed[k] for k in keys if isinstance(parsed, dict) and k in parsed}
        # Staff, managers and the system stay named; a customer's address does not.
        who = actor if "@" not in actor or mailbox_key(actor, dotless) in own else "erased"
        conn.execute(update(_event).where(_event.c.id == eid)
                     .values(detail=encode_detail(kept), actor=who))
        changed += 1
    return changed


def _forget_suppressions(conn: Connection, scope: Scope, dotless: frozenset[str]) -> int:
    ids = [int(i) for i, email in conn.execute(select(_suppressed.c.id, _suppressed.c.email))
           if mailbox_key(email, dotless) == scope.key]
    if scope.message_ids:
        ids += [int(i) for i, in conn.execute(select(_suppressed.c.id).where(
            _suppressed.c.message_row_id.in_(scope.message_ids)))]
    if not ids:
        return 0
    return conn.execute(delete(_suppressed).where(_suppressed.c.id.in_(sorted(set(ids)))))\
        .rowcount


def export_scope(conn: Connection, scope: Scope) -> Iterable[tuple[str, dict[str, Any]]]:
    """Every stored row of `scope`, as (table, row), table by table in foreign-key order."""
    conditions: dict[str, Any] = {
        "complaint": _complaint.c.id.in_(scope.complaint_ids) if scope.complaint_ids else None,
        "message": _message.c.id.in_(scope.message_ids) if scope.message_ids else None,
        "event": _event.c.id.in_(event_ids(conn, scope)),
        "outbox_letter": _letter.c.id.in_(letter_ids(conn, scope)),
        "suppressed_address": None,
        "blob": _blob.c.sha256.in_(select(_attachment.c.sha256).where(attached))
        if (attached := _linked(_attachment, scope)) is not None else None,
    }
    for table in metadata.sorted_tables:
        if table.name == "suppressed_address":
            rows = [dict(r) for r in conn.execute(select(table)).mappings()
                    if mailbox_key(str(r["email"])) == scope.key]
            yield from ((table.name, r) for r in rows)
            continue
        condition = conditions[table.name] if table.name in conditions else _linked(table, scope)
        if condition is None:
            continue
        order = table.c.id if "id" in table.c else table.c.sha256
        for row in conn.execute(select(table).where(condition).order_by(order)).mappings():
            yield table.name, dict(row)
