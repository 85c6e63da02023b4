"""The owner's report's figures from the database, on SQLite and PostgreSQL: each
figure counts what it says over the period, and a period is claimed once however many
instances try at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.support.report_rows import Rows
from triaged.core.report.periods import Period
from triaged.store import report_queries
from triaged.store.db import make_engine, write_transaction
from triaged.usecases.report import read_figures

ZONE = ZoneInfo("Europe/Bucharest")
WEEK = Period(date(2026, 11, 23), date(2026, 11, 29), ZONE)
MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 10:00 in Bucharest
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def test_each_figure_counts_its_own_rows(db_url: str) -> None:
    rows = Rows()
    before = MONDAY - timedelta(days=7)
    # The previous week; its promised date (Monday 23 November) falls in this one: broken.
    rows.complaint(before, category="delivery")
    rows.complaint(before, category="taste", due=timedelta(days=8), state="in_progress",
                          level=1)  # due Tuesday, still open: a promise broken, overdue
    kept = rows.complaint(before, due=timedelta(days=9), state="resolved")
    rows.approve(kept, MONDAY + timedelta(days=1))  # resolved before its Wednesday date
    rows.answer(kept, MONDAY + timedelta(days=4), "settled")
    a = rows.complaint(MONDAY, category="delivery", first_reply=timedelta(seconds=10))
    rows.complaint(MONDAY + timedelta(hours=1), category="delivery",
                   first_reply=timedelta(seconds=30))
    rows.complaint(MONDAY + timedelta(days=1), category="delivery", first_reply=None)
    rows.approve(a, MONDAY + timedelta(hours=5))
    rows.answer(a, MONDAY + timedelta(days=5), "reopened")
    # Sunday 29 November 23:30 in Bucharest is in the week; Monday 00:30 is not.
    rows.complaint(datetime(2026, 11, 29, 21, 30, tzinfo=UTC), category="<b>x</b>")
    rows.complaint(datetime(2026, 11, 29, 22, 30, tzinfo=UTC), category="delivery")
    engine = make_engine(db_url)
    try:
        with write_transaction(engine) as conn:
            rows.write(conn)
            figures = read_figures(conn, WEEK, NOW)
    finally:
        engine.dispose()
    made = figures.as_json()
    assert made["received"] == 4
    assert [d["count"] for d in made["per_day"]] == [2, 1, 0, 0, 0, 0, 1]
    assert made["by_category"] == [
        {"category": "delivery", "count": 3, "previous": 1},
        {"category": "<b>x</b>", "count": 1, "previous": 0},
        {"category": "", "count": 0, "previous": 1},
        {"category": "taste", "count": 0, "previous": 1}]
    assert made["promises"] == {"on_time": 1, "late": 2, "share": 0.3333}
    assert made["first_reply_seconds"] == {"median": 30, "p90": 30}
    # 5 hours and 8 days: the median of two is their mean.
    assert made["resolution_seconds"] == {"median": (5 * 3600 + 8 * 86400) / 2,
                                          "p90": 8 * 86400}
    assert made["satisfaction"] == {"settled": 1, "reopened": 1, "no_answer": 0}
    overdue = made["overdue_by_level"]
    assert overdue["1"] == 1
    assert [o["reference"] for o in made["oldest_open"]][:2] == ["R0000001", "R0000002"]


def test_a_period_is_claimed_once_by_instances_racing_for_it(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(4)]
    start, won = threading.Barrier(len(engines)), []

    def claim(index: int) -> None:
        start.wait()
        with write_transaction(engines[index]) as conn:
            won.append(report_queries.claim_period(conn, "week:2026-11-23", WEEK.since,
                                                   WEEK.until, NOW))
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(engines))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for engine in engines:
            engine.dispose()
    assert sorted(won) == [False, False, False, True]
    engine = make_engine(db_url)
    try:
        with write_transaction(engine) as conn:
            assert report_queries.claim_period(conn, "week:2026-11-23", WEEK.since,
                                               WEEK.until, NOW) is False
    finally:
        engine.dispose()
