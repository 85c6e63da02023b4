"""Messages, complaints and the event log in SQLAlchemy Core: plain values in, ids and
small records out.

Every function works on the caller's `Connection`, inside the caller's
transaction, and never commits. Statements are built once and values travel as
bind parameters: at several hundred messages a second, building statements (or
going through an ORM unit of work) would cost more than the SQL itself.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, String, any_, bindparam, insert, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from triaged.domain.clock import as_utc
from triaged.domain.events import Event
from triaged.domain.lifecycle import check_move
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import ComplaintRef, ComplaintState, EventKind, KnownId, Outcome
from triaged.store.models import metadata
from triaged.store.ownership import lock_until_commit
from triaged.store.prepared import PreparedInsert

# The decoded body is stored for display and duplicate detection, not as the
# record of the message (the raw bytes are): cap it so one huge mail cannot
# bloat every query that touches the table.
TEXT_CAP = 200_000


def cap_text(text: str) -> str:
    """Return `text` cut to `TEXT_CAP` characters, as it is stored."""
    return text[:TEXT_CAP]


# The raw bytes themselves are capped by `[limits] raw_max`: the row's reason
# then carries this note, and `size` how large the mail was.
RAW_CUT_MARK = "[limits] raw_max"


def raw_cut_note(size: int, kept: int) -> str:
    """The note a message row carries when only `kept` of its `size` raw bytes are stored."""
    return f"raw mail of {size:,} bytes stored only to its first {kept:,} ({RAW_CUT_MARK})"


def raw_was_cut(reason: str) -> bool:
    """Whether a message row's reason says its raw bytes were cut at the cap."""
    return RAW_CUT_MARK in reason


def id_forms(message_ids: Iterable[str]) -> set[str]:
    """Every form a Message-ID may be stored in: with and without angle brackets."""
    forms: set[str] = set()
    for raw in message_ids:
        bare = raw.strip().strip("<>").strip()
        if bare:
            forms.update({bare, f"<{bare}>"})
    return forms


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot record {type(value).__name__} in an event")


def encode_detail(detail: Mapping[str, Any] | None) -> str:
    """Return `detail` as JSON text (datetimes as ISO 8601, enums as their value)."""
    return json.dumps(dict(detail or {}), default=_json_default, ensure_ascii=False, sort_keys=True)


_message = metadata.tables["message"]
_complaint = metadata.tables["complaint"]
_letter = metadata.tables["outbox_letter"]

# Statements are built once: building a Core statement and its cache key costs
# more than running it on SQLite. Values travel as bind parameters.
_INSERT_MESSAGE = PreparedInsert(insert(_message), _message.c.id)
_DUPLICATE_CANDIDATES = (
    select(_message.c.id, _message.c.sha256, _message.c.sender, _message.c.sent_date,
           _message.c.text)
    # A quarantined copy is not an original: replaying it after a fix must
    # process it, not find it a duplicate of itself.
    .where(_message.c.duplicate_of.is_(None), _message.c.outcome != "quarantined")
    .order_by(_message.c.id)
)
_SAME_HASH = _DUPLICATE_CANDIDATES.where(_message.c.sha256 == bindparam("sha256"))
# Each half reads one index. As `sha256 = … OR message_id = …`, PostgreSQL keeps
# the plan it made for the table's first rows (a scan of the whole table) once the
# statement is prepared, and every message then read all stored ones. A row found
# by both halves comes twice, which changes no answer (the first match wins).
_SAME_HASH_OR_ID = union_all(
    _SAME_HASH.order_by(None),
    _DUPLICATE_CANDIDATES.order_by(None).where(_message.c.message_id == bindparam("mid")),
).order_by("id")
_OUR_LETTER = (
    select(_letter.c.id).where(_letter.c.message_id.in_(bindparam("forms", expanding=True)))
    .limit(1)
)
_REF_COLUMNS = (_complaint.c.id, _complaint.c.reference, _complaint.c.state,
                _complaint.c.customer_email)
_COMPLAINT_BY_ID = select(*_REF_COLUMNS).where(_complaint.c.id == bindparam("cid"))
_COMPLAINT_BY_REFERENCE = select(*_REF_COLUMNS).where(_complaint.c.reference == bindparam("ref"))
# Threading reads at most this many stored rows per message: a flood of mail
# reusing one Message-ID cannot make one lookup read them all. The earliest
# rows come first, so the id's first owner is always among them.
KNOWN_ID_ROWS = 200
_KNOWN_INCOMING = (
    select(_message.c.id.label("seen"), _message.c.message_id, _message.c.sender,
           *_REF_COLUMNS)
    .join(_complaint, _complaint.c.id == _message.c.complaint_id)
    .where(_message.c.message_id.in_(bindparam("forms", expanding=True)))
    .order_by(_message.c.id)
    .limit(KNOWN_ID_ROWS)
)
_KNOWN_OUTGOING = (
    select(_letter.c.id.label("seen"), _letter.c.message_id, *_REF_COLUMNS)
    .join(_complaint, _complaint.c.id == _letter.c.complaint_id)
    .where(_letter.c.message_id.in_(bindparam("forms", expanding=True)))
    .order_by(_letter.c.id)
    .limit(KNOWN_ID_ROWS)
)
_CHANGE_STATE = (
    update(_complaint)
    .where(_complaint.c.id == bindparam("cid"), _complaint.c.state == bindparam("old"))
    .values(state=bindparam("new"), updated_at=bindparam("now"))
)


@dataclass(frozen=True)
class IncomingRow:
    """One incoming message as stored: where it was read, what it said, what became of it.

    `raw` is None when the bytes are not kept (a duplicate) and may be cut at
    `[limits] raw_max` (`reason` then says so); `size` is always the size that
    arrived. `text` is cut to `TEXT_CAP` when stored.
    """

    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    sha256: str
    raw: bytes | None
    size: int
    outcome: Outcome
    rule: str
    received_at: datetime
    message_id: str = ""
    sender: str = ""
    subject: str = ""
    sent_date: datetime | None = None
    text: str = ""
    reason: str = ""
    complaint_id: int | None = None
    duplicate_of: int | None = None


def insert_message(conn: Connection, row: IncomingRow) -> int:
    """Store one incoming message and return its id."""
    row_id = _INSERT_MESSAGE.insert_id(conn, _message_values(row))
    assert row_id is not None, "a message row is always written"
    _written(conn, row_id, row)
    return row_id


def _message_values(row: IncomingRow) -> dict[str, Any]:
    return {
        "mailbox": row.mailbox, "folder": row.folder, "uidvalidity": row.uidvalidity,
        "uid": row.uid, "message_id": row.message_id, "sha256": row.sha256,
        "raw": row.raw, "size": row.size, "sender": row.sender, "subject": row.subject,
        "sent_date": row.sent_date, "text": cap_text(row.text),
        "outcome": row.outcome.value, "rule": row.rule, "reason": row.reason,
        "complaint_id": row.complaint_id, "duplicate_of": row.duplicate_of,
        "received_at": row.received_at,
    }


def mail_lock(message_id: str, sha256: str) -> str:
    """The lock `duplicate_of` holds on a message's copies until the transaction ends."""
    return f"triaged:mail:{message_id or sha256}"


def duplicate_of(
    conn: Connection,
    *,
    sha256: str,
    message_id: str,
    sender: str,
    sent_date: datetime | None,
    text: str,
) -> int | None:
    """Return the id of the stored original this message duplicates, or None.

    A duplicate has the same raw-bytes hash as a stored message, or the same
    Message-ID *and* the same sender (any case), date and text: mail that
    merely reuses a Message-ID is not one. Only originals are returned, never
    rows that are themselves duplicates or quarantined. Rows written earlier in
    the same transaction count, so duplicates inside one fetched batch are
    caught too.
    """
    # SQLite's writers take turns; PostgreSQL's do not. Two mailboxes reading
    # copies of one mail at once (a customer wrote to both) would each find no
    # original: the second waits here until the first's transaction ends.
    lock_until_commit(conn, mail_lock(message_id, sha256))
    ahead = _read_ahead(conn)
    candidates: Sequence[Any]
    if ahead is not None and ahead.covers(sha256, message_id):
        candidates = ahead.candidates(sha256, message_id)
    elif message_id:
        candidates = conn.execute(_SAME_HASH_OR_ID, {"sha256": sha256, "mid": message_id}).all()
    else:
        candidates = conn.execute(_SAME_HASH, {"sha256": sha256}).all()
    for c in candidates:
        if c.sha256 == sha256:
            return int(c.id)
    if not message_id:
        return None
    return _same_mail(candidates, sender, sent_date, text)


def _same_mail(candidates: Sequence[Any], sender: str, sent_date: datetime | None,
               text: str) -> int | None:
    """The first stored row with the same sender (any case), date and stored text."""
    wanted_date = as_utc(sent_date) if sent_date is not None else None
    wanted_text = cap_text(text)
    wanted_sender = sender.lower()
    for c in candidates:
        same = c.sender.lower() == wanted_sender and c.sent_date == wanted_date
        if same and c.text == wanted_text:
            return int(c.id)
    return None


# A batch reads the stored originals of all its messages in one statement
# (`read_originals_ahead`), and `duplicate_of` looks there and among the rows its
# transaction wrote since: a statement (on PostgreSQL a round trip) fewer per message.
_READ_AHEAD = "triaged_originals_read_ahead"
_ORIGINALS = _DUPLICATE_CANDIDATES.order_by(None).add_columns(_message.c.message_id)
_ORIGINALS_OF_BATCH = {
    # An array each: one statement text, planned once, whatever the batch's size.
    "postgresql": union_all(
        _ORIGINALS.where(_message.c.sha256 == any_(bindparam("hashes",
                                                             type_=postgresql.ARRAY(String)))),
        _ORIGINALS.where(_message.c.message_id == any_(bindparam("mids",
                                                                 type_=postgresql.ARRAY(String)))),
    ),
    "sqlite": union_all(
        _ORIGINALS.where(_message.c.sha256.in_(bindparam("hashes", expanding=True))),
        _ORIGINALS.where(_message.c.message_id.in_(bindparam("mids", expanding=True))),
    ),
}


@dataclass(frozen=True)
class _Original:
    """A stored message a later copy may duplicate, as `_DUPLICATE_CANDIDATES` reads it."""

    id: int
    sha256: str
    message_id: str
    sender: str
    sent_date: datetime | None
    text: str


@dataclass
class _ReadAhead:
    transaction: Any
    hashes: frozenset[str]
    message_ids: frozenset[str]
    originals: list[_Original]

    def covers(self, sha256: str, message_id: str) -> bool:
        return sha256 in self.hashes and (not message_id or message_id in self.message_ids)

    def candidates(self, sha256: str, message_id: str) -> list[_Original]:
        """What `_SAME_HASH_OR_ID` (or `_SAME_HASH`) would read now, in its order."""
        return sorted((o for o in self.originals
                       if o.sha256 == sha256 or (message_id and o.message_id == message_id)),
                      key=lambda o: o.id)


def read_originals_ahead(conn: Connection, copies: Sequence[tuple[str, str]]) -> None:
    """Read the stored originals of a batch's messages, each given as (sha256,
    Message-ID), for `duplicate_of` to find there until the transaction ends or a
    savepoint is rolled back (`forget_read_ahead`). No other writer may add a copy
    meanwhile: on PostgreSQL the caller holds each message's `mail_lock` already, on
    SQLite its transaction is the only writer."""
    statement = _ORIGINALS_OF_BATCH.get(conn.dialect.name)
    if statement is None or not copies:
        return
    hashes = frozenset(sha256 for sha256, _ in copies)
    message_ids = frozenset(mid for _, mid in copies if mid)
    found = conn.execute(statement, {"hashes": sorted(hashes),
                                     "mids": sorted(message_ids)}).all()
    # A row found by both halves comes twice: once is enough.
    originals = {row.id: _Original(int(row.id), row.sha256, row.message_id, row.sender,
                                   row.sent_date, row.text) for row in found}
    conn.info[_READ_AHEAD] = _ReadAhead(conn.get_transaction(), hashes, message_ids,
                                        list(originals.values()))


def forget_read_ahead(conn: Connection) -> None:
    """A savepoint was rolled back: what it wrote, and the locks the originals were read
    under, may be gone, so `duplicate_of` asks the database again."""
    conn.info.pop(_READ_AHEAD, None)


def _read_ahead(conn: Connection) -> _ReadAhead | None:
    ahead: _ReadAhead | None = conn.info.get(_READ_AHEAD)
    if ahead is None or ahead.transaction is not conn.get_transaction():
        return None
    return ahead


def _written(conn: Connection, row_id: int, row: IncomingRow) -> None:
    """A message row this transaction wrote: an original for the read-ahead, unless it is
    a duplicate or quarantined."""
    ahead = _read_ahead(conn)
    if ahead is None or row.duplicate_of is not None or row.outcome is Outcome.QUARANTINED:
        return
    ahead.originals.append(_Original(row_id, row.sha256, row.message_id, row.sender,
                                     row.sent_date, cap_text(row.text)))


def is_our_message_id(conn: Connection, message_id: str) -> bool:
    """Say whether `message_id` is the Message-ID of one of our outbox letters."""
    forms = id_forms([message_id])
    if not forms:
        return False
    found = conn.execute(_OUR_LETTER, {"forms": sorted(forms)}).first()
    return found is not None


def _ref(row: Any) -> ComplaintRef:
    return ComplaintRef(int(row.id), row.reference, ComplaintState(row.state), row.customer_email)


def complaint_by_id(conn: Connection, complaint_id: int) -> ComplaintRef | None:
    """The complaint with this id, or None."""
    row = conn.execute(_COMPLAINT_BY_ID, {"cid": complaint_id}).first()
    return _ref(row) if row is not None else None


def complaint_by_reference(conn: Connection, reference: str) -> ComplaintRef | None:
    """The complaint with exactly this reference, or None."""
    row = conn.execute(_COMPLAINT_BY_REFERENCE, {"ref": reference}).first()
    return _ref(row) if row is not None else None


def known_ids(conn: Connection, ids: Iterable[str]) -> list[KnownId]:
    """Every stored letter and incoming message with one of `ids`, with its complaint.

    Our letters first, then incoming mail, each in the order stored; rows
    without a complaint are left out. Which of them a message continues is
    the caller's decision.
    """
    forms = sorted(id_forms(ids))
    if not forms:
        return []
    found: list[KnownId] = []
    for statement, ours in ((_KNOWN_OUTGOING, True), (_KNOWN_INCOMING, False)):
        for row in conn.execute(statement, {"forms": forms}):
            found.append(KnownId(row.message_id.strip().strip("<>").strip(), _ref(row), ours,
                                 "" if ours else row.sender, int(row.seen)))
    return found


# INSERT … ON CONFLICT DO NOTHING RETURNING id: a reference already in use comes
# back as no row, in one statement instead of a lookup and an insert.
_INSERT_COMPLAINT = {
    name: PreparedInsert(dialect.insert(_complaint)
                         .on_conflict_do_nothing(index_elements=[_complaint.c.reference]),
                         _complaint.c.id)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


@dataclass(frozen=True)
class NewComplaintRow:
    """A complaint to create in state `received` (`insert_complaint`)."""

    reference: str
    mailbox: str
    customer_email: str
    customer_name: str
    subject: str
    language: str
    received_at: datetime
    due_at: datetime
    now: datetime
    category: str = ""
    priority: str = "normal"
    nudge_at: datetime | None = None
    forwarded_by: str = ""
    linked_reference: str = ""

    def values(self) -> dict[str, Any]:
        return {
            "reference": self.reference, "mailbox": self.mailbox,
            "state": ComplaintState.RECEIVED.value, "customer_email": self.customer_email,
            "customer_name": self.customer_name, "subject": self.subject,
            "language": self.language, "received_at": self.received_at,
            "due_at": self.due_at, "escalation_level": 0, "category": self.category,
            "priority": self.priority, "nudge_at": self.nudge_at, "reminded": False,
            "created_at": self.now, "updated_at": self.now,
            "forwarded_by": self.forwarded_by, "linked_reference": self.linked_reference,
            "customer_key": mailbox_key(self.customer_email),
        }


def insert_complaint(conn: Connection, complaint: NewComplaintRow) -> int | None:
    """Create a complaint in state `received`; None when its reference is taken.

    Logs nothing: the caller writes `registered` once the message row that
    opened the complaint has its id (see `registered_event`).
    """
    statement = _INSERT_COMPLAINT.get(conn.dialect.name)
    if statement is None:
        raise NotImplementedError(f"no complaint insert for {conn.dialect.name}")
    return statement.insert_id(conn, complaint.values())


# PostgreSQL: the complaint and the message row that opened it in one statement (a
# round trip fewer per new complaint); a reference in use writes neither.
_OPENED = (postgresql.insert(_complaint)
           .values({c.name: bindparam(f"complaint_{c.name}", type_=c.type)
                    for c in _complaint.c if c.name != "id"})
           .on_conflict_do_nothing(index_elements=[_complaint.c.reference])
           .returning(_complaint.c.id)
           .cte("opened"))
_MESSAGE_COLUMNS = [c for c in _message.c if c.name not in ("id", "complaint_id")]
_INSERT_OPENED = (
    insert(_message)
    .from_select([*(c.name for c in _MESSAGE_COLUMNS), "complaint_id"],
                 select(*(bindparam(c.name, type_=c.type) for c in _MESSAGE_COLUMNS),
                        _OPENED.c.id))
    .returning(_message.c.complaint_id, _message.c.id)
)


def insert_complaint_with_message(
    conn: Connection, complaint: NewComplaintRow, message: IncomingRow,
) -> tuple[int, int] | None:
    """`insert_complaint`, then `message` stored on it (its `complaint_id` is the new
    complaint's): the complaint's id and the message's, or None when the reference
    is taken (nothing is written)."""
    if conn.dialect.name != "postgresql":
        complaint_id = insert_complaint(conn, complaint)
        if complaint_id is None:
            return None
        message = dataclasses.replace(message, complaint_id=complaint_id)
        return complaint_id, insert_message(conn, message)
    values = _message_values(message)
    del values["complaint_id"]
    for name, value in complaint.values().items():
        values[f"complaint_{name}"] = value
    found = conn.execute(_INSERT_OPENED, values).first()
    if found is None:
        return None
    _written(conn, int(found[1]), message)
    return int(found[0]), int(found[1])


def registered_event(
    complaint_id: int,
    *,
    reference: str,
    due_at: datetime,
    customer_email: str,
    message_row_id: int | None,
    now: datetime,
    actor: str = "system",
) -> Event:
    """The `registered` event of a complaint `insert_complaint` created."""
    return Event(complaint_id, EventKind.REGISTERED, now, actor, message_row_id,
                 {"reference": reference, "due_at": due_at, "customer": customer_email})


def set_state(
    conn: Connection,
    complaint: ComplaintRef,
    new_state: ComplaintState,
    *,
    now: datetime,
    actor: str,
    message_row_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Event | None:
    """`change_state` for a complaint as it was read: from `complaint.state` to `new_state`."""
    return _change(conn, complaint.reference, complaint.id, complaint.state, new_state,
                   now=now, actor=actor, message_row_id=message_row_id, detail=detail)


def change_state(
    conn: Connection,
    complaint_id: int,
    old_state: ComplaintState,
    new_state: ComplaintState,
    *,
    now: datetime,
    actor: str,
    message_row_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Event | None:
    """Move the complaint from `old_state` to `new_state` if it is still in `old_state`.

    Returns the `state_changed` event to record (its detail with `from` and
    `to`), or None when the complaint is no longer in `old_state` (someone else
    moved it first). Raises `ForbiddenMove`, writing nothing, when the lifecycle
    (`triaged.domain.lifecycle`) does not allow the move.
    """
    return _change(conn, f"#{complaint_id}", complaint_id, old_state, new_state, now=now,
                   actor=actor, message_row_id=message_row_id, detail=detail)


def change_states(
    conn: Connection,
    moves: Sequence[tuple[int, datetime, Mapping[str, Any]]],
    old_state: ComplaintState,
    new_state: ComplaintState,
    *,
    actor: str,
) -> dict[int, Event]:
    """`change_state` for many complaints, each `(complaint id, when, detail)`, in
    three statements; returns the events of those that moved, by complaint id."""
    check_move("", old_state, new_state)
    ids = sorted({complaint_id for complaint_id, _, _ in moves})
    still: set[int] = set()
    for start in range(0, len(ids), 500):
        still.update(int(i) for i in conn.execute(
            select(_complaint.c.id).where(_complaint.c.id.in_(ids[start:start + 500]),
                                          _complaint.c.state == old_state.value)).scalars())
    moved: dict[int, Event] = {}
    for complaint_id, now, detail in moves:
        if complaint_id in still and complaint_id not in moved:
            moved[complaint_id] = Event(
                complaint_id, EventKind.STATE_CHANGED, now, actor, None,
                {**detail, "from": old_state.value, "to": new_state.value})
    if moved:
        conn.execute(_CHANGE_STATE, [
            {"cid": e.complaint_id, "old": old_state.value, "new": new_state.value, "now": e.at}
            for e in moved.values()])
    return moved


def _change(
    conn: Connection,
    name: str,
    complaint_id: int,
    old_state: ComplaintState,
    new_state: ComplaintState,
    *,
    now: datetime,
    actor: str,
    message_row_id: int | None,
    detail: Mapping[str, Any] | None,
) -> Event | None:
    check_move(name, old_state, new_state)
    moved = conn.execute(
        _CHANGE_STATE,
        {"cid": complaint_id, "old": old_state.value, "new": new_state.value, "now": now},
    ).rowcount
    if moved != 1:
        return None
    return Event(complaint_id, EventKind.STATE_CHANGED, now, actor, message_row_id,
                 {**(detail or {}), "from": old_state.value, "to": new_state.value})
