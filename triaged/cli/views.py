"""Plain dict views of store rows for `--json` output, and the human screens (pure).

`--json` keeps exact ISO instants; the screens write times as a person reads them:
local to the business, to the second (or, for a promise, the rounded hour the
letters name), with the zone's abbreviation.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from triaged.core.calendar import promised_instant
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


def local_stamp(value: str | None, timezone: str) -> str:
    """An ISO instant from a view as the screens print it: "2026-12-08 13:05:09 EET"."""
    if not value:
        return "-"
    local = datetime.fromisoformat(value).astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M:%S %Z}"


def promise_stamp(value: str | None, timezone: str) -> str:
    """A promised time as the letters name it (rounded up to the hour): "2026-12-08 14:00 EET"."""
    if not value:
        return "-"
    return f"{promised_instant(datetime.fromisoformat(value), timezone):%Y-%m-%d %H:%M %Z}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lines of a table with a header row, each column as wide as its widest cell
    (the last one is not padded), so a long address shifts the columns, never cuts them."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines


def event_words(detail: dict[str, Any], timezone: str) -> str:
    """An event's detail as one readable line: a state change as "a → b", then
    `key: value` pairs, lists comma-joined, instants local like the rest of the screen."""
    rest = dict(detail)
    parts = []
    if "from" in rest and "to" in rest:
        parts.append(f"{rest.pop('from')} → {rest.pop('to')}")
    for key, value in rest.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, str) and _ISO_INSTANT.match(value):
            value = local_stamp(value, timezone)
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")
