"""Plain dict views of store rows for `--json` output and the human tables (pure)."""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from typing import Any

from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def complaint_view(c: Complaint) -> dict[str, Any]:
    """One complaint as `list --json` prints it; scripts rely on these keys."""
    return {
        "reference": c.reference,
        "state": c.state,
        "customer": c.customer_email,
        "customer_name": c.customer_name,
        "subject": c.subject,
        "language": c.language,
        "received_at": iso(c.received_at),
        "due_at": iso(c.due_at),
        "escalation_level": c.escalation_level,
        "category": c.category,
        "priority": c.priority,
        "mailbox": c.mailbox,
        "forwarded_by": c.forwarded_by,
        "linked_reference": c.linked_reference,
    }


def message_view(m: MessageRow) -> dict[str, Any]:
    return {
        "id": m.id,
        "message_id": m.message_id,
        "sender": m.sender,
        "subject": m.subject,
        "date": iso(m.sent_date),
        "received_at": iso(m.received_at),
        "outcome": m.outcome,
        "rule": m.rule,
        "reason": m.reason,
        "sha256": m.sha256,
        "size": m.size,
        "text": m.text,
    }


def letter_view(letter: OutboxLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "kind": letter.kind,
        "to": letter.to_email,
        "subject": letter.subject,
        "message_id": letter.message_id,
        "state": letter.state,
        "attempts": letter.attempts,
        "last_error": letter.last_error,
        "created_at": iso(letter.created_at),
        "sent_at": iso(letter.sent_at),
    }


def event_view(e: Event) -> dict[str, Any]:
    return {
        "at": iso(e.at),
        "kind": e.kind,
        "actor": e.actor,
        "detail": json.loads(e.detail) if e.detail else {},
        "message_row_id": e.message_row_id,
    }


def seconds_summary(values: list[float]) -> dict[str, float | None]:
    """Median and 90th percentile, or None when there is nothing to measure."""
    if not values:
        return {"count": 0, "median": None, "p90": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"count": len(ordered), "median": statistics.median(ordered), "p90": p90}
