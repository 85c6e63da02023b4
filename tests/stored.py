"""Test data written through the store's own functions: messages, complaints, lifecycles.

Every row here is written the way production writes it (`store.rows`), so a
test's setup cannot drift from what intake and the use cases store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from triaged.domain.records import ComplaintState, Outcome
from triaged.store import rows
from triaged.store.journal import Journal


def message(conn: Connection, *, received_at: datetime, **fields: Any) -> int:
    """Store one incoming message; unnamed columns are empty, as an unparseable mail's."""
    values: dict[str, Any] = {
        "mailbox": "support", "folder": "INBOX", "uidvalidity": 0, "uid": 0,
        "message_id": "", "sha256": "", "raw": None, "size": 0, "sender": "",
        "subject": "", "sent_date": None, "text": "", "outcome": "complaint", "rule": "",
    }
    values.update(fields)
    values["outcome"] = Outcome(values["outcome"])
    return rows.insert_message(conn, rows.IncomingRow(received_at=received_at, **values))


def register(
    conn: Connection,
    reference: str,
    *,
    received_at: datetime,
    due_at: datetime | None = None,
    customer_email: str = "ana@example.com",
    customer_name: str = "Ana",
    subject: str = "Broken oven",
    language: str = "en",
    with_message: bool = True,
    actor: str = "system",
    **columns: Any,
) -> int:
    """Register a complaint as intake does: its message (unless `with_message` is false),
    the complaint in state `received`, and its `registered` event. Returns its id."""
    due = due_at if due_at is not None else received_at + timedelta(days=5)
    complaint_id = rows.insert_complaint(conn, rows.NewComplaintRow(
        reference=reference, mailbox="support", customer_email=customer_email,
        customer_name=customer_name, subject=subject, language=language,
        received_at=received_at, due_at=due, now=received_at, **columns))
    assert complaint_id is not None, f"reference {reference} is taken"
    row_id = None
    if with_message:
        row_id = message(conn, sha256=reference, received_at=received_at,
                         complaint_id=complaint_id)
    with Journal(conn) as journal:
        journal.record(rows.registered_event(
            complaint_id, reference=reference, due_at=due, customer_email=customer_email,
            message_row_id=row_id, now=received_at, actor=actor))
    return complaint_id


def walk(
    conn: Connection,
    complaint_id: int,
    path: Sequence[ComplaintState],
    *,
    now: datetime,
    actor: str = "system",
    start: ComplaintState = ComplaintState.RECEIVED,
) -> None:
    """Move the complaint along `path` from `start`, logging each move."""
    state = start
    for step in path:
        moved = rows.change_state(conn, complaint_id, state, step, now=now, actor=actor)
        assert moved is not None, f"complaint {complaint_id} was not in {state}"
        with Journal(conn) as journal:
            journal.record(moved)
        state = step
