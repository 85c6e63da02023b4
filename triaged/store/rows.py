"""The intake hot path in SQLAlchemy Core: plain values in, ids and small records out.

The ORM functions in `messages`, `complaints` and `outbox` build SQLModel objects
and go through the unit of work (autoflush, identity map); at several hundred
messages a second that costs several times the SQL itself. These
functions do the same writes with cached Core statements on the caller's
`Connection`, inside the caller's transaction, and never commit. They write the
same rows and the same events as their ORM twins; the tests hold both to that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite

from triaged.domain.clock import as_utc
from triaged.domain.records import ComplaintRef, ComplaintState, EventKind, KnownId, Outcome
from triaged.store.complaints import can_transition, encode_detail
from triaged.store.messages import cap_text, id_forms
from triaged.store.models import metadata
from triaged.store.ownership import advisory_key

_message = metadata.tables["message"]
_complaint = metadata.tables["complaint"]
_event = metadata.tables["event"]
_letter = metadata.tables["outbox_letter"]
_quarantine = metadata.tables["quarantine"]

# Statements are built once: building a Core statement and its cache key costs
# more than running it on SQLite. Values travel as bind parameters.
_INSERT_EVENT = insert(_event)
_INSERT_MESSAGE = insert(_message).returning(_message.c.id)
_INSERT_QUARANTINE = insert(_quarantine).returning(_quarantine.c.id)
_DUPLICATE_CANDIDATES = (
    select(_message.c.id, _message.c.sha256, _message.c.sender, _message.c.sent_date,
           _message.c.text)
    # A quarantined copy is not an original: replaying it after a fix must
    # process it, not find it a duplicate of itself.
    .where(_message.c.duplicate_of.is_(None), _message.c.outcome != "quarantined")
    .order_by(_message.c.id)
)
_SAME_HASH = _DUPLICATE_CANDIDATES.where(_message.c.sha256 == bindparam("sha256"))
_SAME_HASH_OR_ID = _DUPLICATE_CANDIDATES.where(
    or_(_message.c.sha256 == bindparam("sha256"), _message.c.message_id == bindparam("mid"))
)
_LOCK_MAIL = sql_text("SELECT pg_advisory_xact_lock(:key)")
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


def event(
    complaint_id: int | None,
    kind: EventKind | str,
    *,
    now: datetime,
    actor: str,
    message_row_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One event-log row as parameters for `insert_events` (same shape as `add_event`)."""
    return {
        "complaint_id": complaint_id,
        "message_row_id": message_row_id,
        "at": now,
        "kind": str(kind),
        "actor": actor,
        "detail": encode_detail(detail),
    }


def insert_events(conn: Connection, events: Sequence[Mapping[str, Any]]) -> None:
    """Append `events` (made by `event`) to the log in one executemany."""
    if events:
        conn.execute(_INSERT_EVENT, list(events))


def insert_message(
    conn: Connection,
    *,
    mailbox: str,
    folder: str,
    uidvalidity: int,
    uid: int,
    message_id: str,
    sha256: str,
    raw: bytes | None,
    size: int,
    sender: str,
    subject: str,
    sent_date: datetime | None,
    text: str,
    outcome: Outcome | str,
    rule: str,
    received_at: datetime,
    reason: str = "",
    complaint_id: int | None = None,
    duplicate_of: int | None = None,
) -> int:
    """Store one incoming message and return its id; `text` is capped like `add_message`."""
    result = conn.execute(
        _INSERT_MESSAGE,
        {
            "mailbox": mailbox, "folder": folder, "uidvalidity": uidvalidity, "uid": uid,
            "message_id": message_id, "sha256": sha256, "raw": raw, "size": size,
            "sender": sender, "subject": subject, "sent_date": sent_date,
            "text": cap_text(text), "outcome": str(outcome), "rule": rule, "reason": reason,
            "complaint_id": complaint_id, "duplicate_of": duplicate_of,
            "received_at": received_at,
        },
    )
    return int(result.scalar_one())


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

    The rules of `messages.find_duplicate`: same raw-bytes hash, or
    same Message-ID and same sender (any case), date and text. Rows written
    earlier in the same transaction count, so duplicates inside one fetched
    batch are caught too.
    """
    if conn.dialect.name == "postgresql":
        # SQLite's writers take turns; PostgreSQL's do not. Two mailboxes reading
        # copies of one mail at once (a customer wrote to both) would each find no
        # original: the second waits here until the first's transaction ends.
        key = advisory_key(f"triaged:mail:{message_id or sha256}")
        conn.execute(_LOCK_MAIL, {"key": key})
    if message_id:
        candidates = conn.execute(_SAME_HASH_OR_ID, {"sha256": sha256, "mid": message_id}).all()
    else:
        candidates = conn.execute(_SAME_HASH, {"sha256": sha256}).all()
    if not candidates:
        return None
    for c in candidates:
        if c.sha256 == sha256:
            return int(c.id)
    if not message_id:
        return None
    wanted_date = as_utc(sent_date) if sent_date is not None else None
    wanted_text = cap_text(text)
    wanted_sender = sender.lower()
    for c in candidates:
        same = c.sender.lower() == wanted_sender and c.sent_date == wanted_date
        if same and c.text == wanted_text:
            return int(c.id)
    return None


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
    name: dialect.insert(_complaint)
    .on_conflict_do_nothing(index_elements=[_complaint.c.reference])
    .returning(_complaint.c.id)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def insert_complaint(
    conn: Connection,
    *,
    reference: str,
    mailbox: str,
    customer_email: str,
    customer_name: str,
    subject: str,
    language: str,
    received_at: datetime,
    due_at: datetime,
    now: datetime,
    category: str = "",
    priority: str = "normal",
    nudge_at: datetime | None = None,
    forwarded_by: str = "",
    linked_reference: str = "",
) -> int | None:
    """Create a complaint in state `received`; None when `reference` is taken.

    Logs nothing: the caller writes `registered` once the message row that
    opened the complaint has its id (see `registered_event`).
    """
    statement = _INSERT_COMPLAINT.get(conn.dialect.name)
    if statement is None:
        raise NotImplementedError(f"no complaint insert for {conn.dialect.name}")
    found = conn.execute(
        statement,
        {
            "reference": reference, "mailbox": mailbox,
            "state": ComplaintState.RECEIVED.value, "customer_email": customer_email,
            "customer_name": customer_name, "subject": subject, "language": language,
            "received_at": received_at, "due_at": due_at, "escalation_level": 0,
            "category": category, "priority": priority, "nudge_at": nudge_at,
            "reminded": False, "created_at": now, "updated_at": now,
            "forwarded_by": forwarded_by, "linked_reference": linked_reference,
        },
    ).first()
    return int(found[0]) if found is not None else None


def registered_event(
    complaint_id: int,
    *,
    reference: str,
    due_at: datetime,
    customer_email: str,
    message_row_id: int | None,
    now: datetime,
    actor: str = "system",
) -> dict[str, Any]:
    """The `registered` event `complaints.register` writes, as `event` parameters."""
    return event(complaint_id, EventKind.REGISTERED, now=now, actor=actor,
                 message_row_id=message_row_id,
                 detail={"reference": reference, "due_at": due_at, "customer": customer_email})


def set_state(
    conn: Connection,
    complaint: ComplaintRef,
    new_state: ComplaintState,
    *,
    now: datetime,
    actor: str,
    message_row_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Move `complaint` from the state it was read in to `new_state`.

    Returns the `state_changed` event to insert (with from/to, as
    `complaints.transition`), or None when the complaint is no longer in the
    state it was read in (someone else moved it first). Raises `ValueError`
    when the complaint lifecycle does not allow the move.
    """
    if not can_transition(complaint.state, new_state):
        raise ValueError(
            f"complaint {complaint.reference}: cannot go from {complaint.state.value} "
            f"to {new_state.value}"
        )
    return change_state(conn, complaint.id, complaint.state, new_state, now=now, actor=actor,
                        message_row_id=message_row_id, detail=detail)


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
) -> dict[str, Any] | None:
    """Conditional update `old_state` → `new_state`; the event to log, or None if not moved."""
    moved = conn.execute(
        _CHANGE_STATE,
        {"cid": complaint_id, "old": old_state.value, "new": new_state.value, "now": now},
    ).rowcount
    if moved != 1:
        return None
    return event(complaint_id, EventKind.STATE_CHANGED, now=now, actor=actor,
                 message_row_id=message_row_id,
                 detail={**(detail or {}), "from": old_state.value, "to": new_state.value})


def insert_quarantine(conn: Connection, message_row_id: int, reason: str, now: datetime) -> int:
    """Park a stored message for staff (its row must already say `quarantined`)."""
    result = conn.execute(
        _INSERT_QUARANTINE,
        {"message_row_id": message_row_id, "reason": reason, "state": "open",
         "created_at": now},
    )
    return int(result.scalar_one())
