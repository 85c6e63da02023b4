"""`stats` SLA figures: promises kept, time to resolution, overdue now, top categories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from triaged.cli.views import seconds_summary
from triaged.domain.records import ComplaintState
from triaged.store import complaints, messages, sla_queries
from triaged.store.db import transaction
from triaged.store.models import Complaint

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
S = ComplaintState


def add(session: Session, reference: str, *, received: datetime, due: datetime,
        category: str = "", resolved: datetime | None = None, level: int = 0,
        closed: bool = False) -> Complaint:
    row = messages.add_message(session, mailbox="support", folder="INBOX", sha256=reference,
                               received_at=received)
    complaint = complaints.register(
        session, reference=reference, mailbox="support",
        customer_email=f"{reference.lower()}@example.com", customer_name="",
        subject=reference, language="en", received_at=received, due_at=due,
        message_row=row, now=received)
    complaint.category = category
    complaint.escalation_level = level
    complaints.transition(session, complaint, S.ACKNOWLEDGED, now=received, actor="system")
    if resolved is not None:
        for state in (S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED):
            complaints.transition(session, complaint, state, now=resolved, actor="dana")
        if closed:
            complaints.transition(session, complaint, S.CLOSED, now=resolved + DAY,
                                  actor="system")
    return complaint


def test_promises_kept_times_taken_and_what_people_complain_about(engine: Engine) -> None:
    with transaction(engine) as session:
        # Resolved two hours before its date, and closed since: on time, 10 hours taken.
        add(session, "KEPT-1", received=NOW - 2 * DAY, due=NOW - 2 * DAY + 12 * HOUR,
            resolved=NOW - 2 * DAY + 10 * HOUR, category="delivery", closed=True)
        # Resolved a day after its date: late, 3 days taken.
        add(session, "LATE-2", received=NOW - 4 * DAY, due=NOW - 2 * DAY,
            resolved=NOW - DAY, category="delivery")
        # Still open, date passed: late, and overdue now at level 2.
        add(session, "OPEN-3", received=NOW - 3 * DAY, due=NOW - HOUR, category="billing",
            level=2)
        # Still open, date ahead: not judged yet. Received 9 days ago: not this week.
        add(session, "AHEAD-4", received=NOW - 9 * DAY, due=NOW + DAY, category="quality")
        add(session, "AHEAD-5", received=NOW - HOUR, due=NOW + DAY, category="delivery")

    with transaction(engine) as session:
        figures = sla_queries.sla_figures(session, NOW)

    assert figures["answered_on_time"] == {"on_time": 1, "late": 2, "share": 0.3333}
    assert figures["overdue_now"] == {"count": 1, "by_escalation_level": {"2": 1}}
    assert sorted(figures["resolution_seconds"]) == [10 * 3600.0, 3 * 86400.0]
    assert seconds_summary(figures["resolution_seconds"])["median"] == (36000 + 259200) / 2
    assert figures["top_categories_this_week"] == [
        {"category": "delivery", "count": 3}, {"category": "billing", "count": 1}]


def test_an_empty_store_has_no_share_rather_than_a_false_zero(engine: Engine) -> None:
    with transaction(engine) as session:
        figures = sla_queries.sla_figures(session, NOW)
    assert figures["answered_on_time"] == {"on_time": 0, "late": 0, "share": None}
    assert figures["top_categories_this_week"] == []
