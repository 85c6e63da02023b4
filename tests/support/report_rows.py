"""Rows for the owner's report's queries: complaints with their holding replies,
approvals and satisfaction answers, written with bulk inserts (tests and the benchmark)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert

from triaged.store.models import metadata

_complaint = metadata.tables["complaint"]
_letter = metadata.tables["outbox_letter"]
_event = metadata.tables["event"]


@dataclass
class Rows:
    """Rows to insert; `complaint` returns the new complaint's id."""

    complaints: list[dict[str, Any]] = field(default_factory=list)
    letters: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def complaint(self, received: datetime, *, category: str = "", state: str = "acknowledged",
                  due: timedelta = timedelta(days=7), level: int = 0,
                  first_reply: timedelta | None = timedelta(seconds=30)) -> int:
        number = len(self.complaints) + 1
        self.complaints.append({
            "id": number, "reference": f"R{number:07d}", "mailbox": "support",
            "state": state, "customer_email": f"c{number}@example.test", "customer_name": "",
            "subject": "s", "language": "en", "received_at": received,
            "due_at": received + due, "escalation_level": level, "category": category,
            "priority": "normal", "nudge_at": None, "reminded": False, "forwarded_by": "",
            "linked_reference": "", "created_at": received, "updated_at": received})
        if first_reply is not None:
            self.letter(number, "holding", received, received + first_reply)
        return number

    def letter(self, complaint_id: int, kind: str, created: datetime,
               sent: datetime | None) -> None:
        number = len(self.letters) + 1
        self.letters.append({
            "id": number, "complaint_id": complaint_id, "kind": kind,
            "to_email": f"c{complaint_id}@example.test", "to_key": "", "about_key": "",
            "message_id": f"<l{number}@example.test>", "subject": "", "raw": b"",
            "automatic": kind == "holding", "state": "sent" if sent else "queued",
            "attempts": 1 if sent else 0, "next_attempt_at": created, "last_error": "",
            "created_at": created, "sent_at": sent})

    def event(self, complaint_id: int, kind: str, at: datetime, actor: str = "system",
              **detail: str) -> None:
        self.events.append({"complaint_id": complaint_id, "message_row_id": None, "at": at,
                            "kind": kind, "actor": actor,
                            "detail": json.dumps(detail, sort_keys=True)})

    def approve(self, complaint_id: int, at: datetime) -> None:
        self.event(complaint_id, "approved", at, "dana@acme.example")
        self.event(complaint_id, "state_changed", at, "dana@acme.example",
                   **{"from": "awaiting_approval", "to": "resolved"})

    def answer(self, complaint_id: int, at: datetime, answer: str) -> None:
        """`settled` (the customer's yes), `reopened` (their reply), `quiet` (closed unanswered)."""
        change = {"settled": ("customer", "closed"), "reopened": ("customer", "in_progress"),
                  "quiet": ("system", "closed")}[answer]
        self.event(complaint_id, "state_changed", at, change[0],
                   **{"from": "resolved", "to": change[1]})

    def write(self, conn: Connection) -> None:
        for table, values in ((_complaint, self.complaints), (_letter, self.letters),
                              (_event, self.events)):
            if values:
                conn.execute(insert(table), values)


CATEGORIES = ("delivery", "taste", "price", "staff", "", "packaging")
OPEN = ("acknowledged", "in_progress", "awaiting_approval")


def history(start: datetime, days: int, count: int, seed: int = 7) -> Rows:
    """`count` complaints spread over `days` from `start`, as a busy shop's would be:
    70 % resolved (half of those answered the satisfaction check), the rest open."""
    rng = random.Random(seed)
    rows = Rows()
    seconds = days * 86400
    for _ in range(count):
        received = start + timedelta(seconds=rng.randrange(seconds))
        done = rng.random() < 0.7
        number = rows.complaint(
            received, category=rng.choice(CATEGORIES),
            state=rng.choice(("resolved", "closed")) if done else rng.choice(OPEN),
            due=timedelta(days=rng.choice((5, 7))), level=0 if done else rng.randrange(3),
            first_reply=timedelta(seconds=rng.randrange(2, 600)))
        if done:
            resolved = received + timedelta(hours=rng.randrange(4, 200))
            rows.approve(number, resolved)
            if rng.random() < 0.5:
                rows.answer(number, resolved + timedelta(days=3),
                            rng.choice(("settled", "reopened", "quiet")))
    return rows
