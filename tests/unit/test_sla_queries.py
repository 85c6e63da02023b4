"""`stats` SLA figures: promises kept, time to resolution, overdue now, top categories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, update

from tests import stored
from triaged.cli.views import seconds_summary
from triaged.domain.records import ComplaintState
from triaged.store import sla_queries
from triaged.store.db import transaction, write_transaction
from triaged.store.models import metadata

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
S = ComplaintState


def add(conn: Connection, reference: str, *, received: datetime, due: datetime,
        category: str = "", resolved: datetime | None = None, level: int = 0,
        closed: bool = False) -> int:
    complaint_id = stored.register(
        conn, reference, received_at=received, due_at=due,
        customer_email=f"{reference.lower()}@example.com", customer_name="",
        subject=reference, category=category)
    table = metadata.tables["complaint"]
    conn.execute(update(table).where(table.c.id == complaint_id).values(escalation_level=level))
    stored.walk(conn, complaint_id, [S.ACKNOWLEDGED], now=received)
    if resolved is not None:
        stored.walk(conn, complaint_id, [S.IN_PROGRESS, S.AWAITING_APPROVAL, S.RESOLVED],
                    now=resolved, actor="dana", start=S.ACKNOWLEDGED)
        if closed:
            stored.walk(conn, complaint_id, [S.CLOSED], now=resolved + DAY, start=S.RESOLVED)
    return complaint_id


def test_promises_kept_times_taken_and_what_people_complain_about(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        # Resolved two hours before its date, and closed since: on time, 10 hours taken.
        add(conn, "KEPT-1", received=NOW - 2 * DAY, due=NOW - 2 * DAY + 12 * HOUR,
            resolved=NOW - 2 * DAY + 10 * HOUR, category="delivery", closed=True)
        # Resolved a day after its date: late, 3 days taken.
        add(conn, "LATE-2", received=NOW - 4 * DAY, due=NOW - 2 * DAY,
            resolved=NOW - DAY, category="delivery")
        # Still open, date passed: late, and overdue now at level 2.
        add(conn, "OPEN-3", received=NOW - 3 * DAY, due=NOW - HOUR, category="billing",
            level=2)
        # Still open, date ahead: not judged yet. Received 9 days ago: not this week.
        add(conn, "AHEAD-4", received=NOW - 9 * DAY, due=NOW + DAY, category="quality")
        add(conn, "AHEAD-5", received=NOW - HOUR, due=NOW + DAY, category="delivery")

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
