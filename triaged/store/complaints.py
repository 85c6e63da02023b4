"""Registering complaints and moving them through their lifecycle (SPEC §2).

Every state change writes an `Event` in the caller's session, so the change and
its audit line commit or roll back together. Nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from sqlmodel import Session, select

from triaged.domain.records import ComplaintState, EventKind
from triaged.store.models import Complaint, Event, MessageRow

_S = ComplaintState

# SPEC §2. Rejection returns awaiting_approval to in_progress; a customer writing
# again reopens resolved and closed complaints; a complaint registered without a
# holding reply (start = "all") may go straight from received to in_progress.
ALLOWED_TRANSITIONS: Mapping[ComplaintState, frozenset[ComplaintState]] = {
    _S.RECEIVED: frozenset({_S.ACKNOWLEDGED, _S.IN_PROGRESS}),
    _S.ACKNOWLEDGED: frozenset({_S.IN_PROGRESS}),
    _S.IN_PROGRESS: frozenset({_S.AWAITING_APPROVAL}),
    _S.AWAITING_APPROVAL: frozenset({_S.RESOLVED, _S.IN_PROGRESS}),
    _S.RESOLVED: frozenset({_S.CLOSED, _S.IN_PROGRESS}),
    _S.CLOSED: frozenset({_S.IN_PROGRESS}),
}


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


def add_event(
    session: Session,
    complaint_id: int | None,
    kind: EventKind | str,
    *,
    now: datetime,
    actor: str,
    message_row_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Event:
    """Append one line to the event log in the caller's session.

    Not flushed here: intake writes several events per message, and one flush
    at commit is much cheaper than one per event. The id exists after the next
    flush (any query in the session, or the commit).
    """
    event = Event(
        complaint_id=complaint_id,
        message_row_id=message_row_id,
        at=now,
        kind=str(kind),
        actor=actor,
        detail=encode_detail(detail),
    )
    session.add(event)
    return event


def register(
    session: Session,
    *,
    reference: str,
    mailbox: str,
    customer_email: str,
    customer_name: str,
    subject: str,
    language: str,
    received_at: datetime,
    due_at: datetime,
    message_row: MessageRow | None,
    now: datetime,
    actor: str = "system",
) -> Complaint:
    """Create a complaint in state `received` and log `registered`.

    `message_row`, when given, is attached to the new complaint. The caller's
    transaction decides whether any of it is kept.
    """
    complaint = Complaint(
        reference=reference,
        mailbox=mailbox,
        state=ComplaintState.RECEIVED.value,
        customer_email=customer_email,
        customer_name=customer_name,
        subject=subject,
        language=language,
        received_at=received_at,
        due_at=due_at,
        created_at=now,
        updated_at=now,
    )
    session.add(complaint)
    session.flush()
    message_row_id = None
    if message_row is not None:
        message_row.complaint_id = complaint.id
        session.add(message_row)
        message_row_id = message_row.id
    add_event(
        session,
        complaint.id,
        EventKind.REGISTERED,
        now=now,
        actor=actor,
        message_row_id=message_row_id,
        detail={"reference": reference, "due_at": due_at, "customer": customer_email},
    )
    return complaint


def can_transition(old: ComplaintState, new: ComplaintState) -> bool:
    """Say whether SPEC §2 allows a complaint to go from `old` to `new`."""
    return new in ALLOWED_TRANSITIONS.get(old, frozenset())


def transition(
    session: Session,
    complaint: Complaint,
    new_state: ComplaintState,
    *,
    now: datetime,
    actor: str,
    message_row: MessageRow | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Move `complaint` to `new_state` and log `state_changed` with from/to.

    Raises `ValueError` naming both states when SPEC §2 does not allow the move;
    the complaint is then unchanged and nothing is logged.
    """
    old_state = ComplaintState(complaint.state)
    if not can_transition(old_state, new_state):
        raise ValueError(
            f"complaint {complaint.reference}: cannot go from {old_state.value} "
            f"to {new_state.value}"
        )
    complaint.state = new_state.value
    complaint.updated_at = now
    session.add(complaint)
    add_event(
        session,
        complaint.id,
        EventKind.STATE_CHANGED,
        now=now,
        actor=actor,
        message_row_id=message_row.id if message_row is not None else None,
        detail={**(detail or {}), "from": old_state.value, "to": new_state.value},
    )


def get_by_reference(session: Session, reference: str) -> Complaint | None:
    """Return the complaint with exactly this reference, or None."""
    return session.exec(select(Complaint).where(Complaint.reference == reference)).first()


def reference_exists(session: Session, reference: str) -> bool:
    """Say whether a complaint already uses `reference` (for picking a fresh one)."""
    found = session.exec(select(Complaint.id).where(Complaint.reference == reference)).first()
    return found is not None
