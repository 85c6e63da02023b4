"""Benchmark: the escalation scan over 100 000 open complaints in SQLite (target: ≤ 200 ms).

Fills a fresh, migrated SQLite database with N open complaints (each with its
opening message), their promised dates spread over the coming weeks, then
times `Escalator.run()`:

* steady state: nothing is due (the run a daemon makes every few seconds);
* a busy run: `--due` complaints have just passed their date and are escalated,
  their digests written (one per manager) and their steps logged.

Prints the times (median of `--repeat`) and SQLite's query plan for the scan.

    .venv/bin/python -m bench.escalation_scan --count 100000 --due 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from triaged.config.loading import from_mapping
from triaged.core.calendar import BusinessCalendar
from triaged.core.letters.render import Renderer
from triaged.domain.clock import FixedClock
from triaged.store.db import make_engine, migrate
from triaged.store.ladder_rows import _DUE
from triaged.store.models import metadata
from triaged.usecases.escalation import Escalator
from triaged.usecases.mailer import Mailer

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CONFIG = {
    "business": {"name": "Bench Bakery", "timezone": "Europe/Bucharest", "country": "",
                 "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                 "working_hours": ["00:00", "24:00"]},
    "mailboxes": [{"address": "support@bench.example", "host": "localhost"}],
    "smtp": {"host": "localhost"},
    "sla": {"remind_before": "1 hour", "escalate_every": "1 hour"},
    "staff": {"notify": ["team@bench.example"]},
    "managers": [{"email": "dana@bench.example", "level": 1},
                 {"email": "ana@bench.example", "level": 2}],
}


def fill(url: str, count: int, due: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    complaint, message = metadata.tables["complaint"], metadata.tables["message"]
    rows, messages = [], []
    for n in range(1, count + 1):
        overdue = n <= due
        # The due ones passed their date a minute ago; the rest are spread over 4 weeks,
        # already reminded or not, so the index holds realistic, distinct instants.
        due_at = NOW - timedelta(minutes=1) if overdue else NOW + timedelta(seconds=24 * n)
        nudge_at = due_at if overdue or n % 2 else due_at - timedelta(hours=1)
        rows.append({
            "id": n, "reference": f"B{n:07d}X", "mailbox": "support", "state": "acknowledged",
            "customer_email": f"customer{n}@example.test", "customer_name": f"Customer {n}",
            "subject": f"Order {n}: cake arrived crushed", "language": "en",
            "received_at": NOW - timedelta(days=3), "due_at": due_at, "escalation_level": 0,
            "category": "quality", "priority": "normal", "created_at": NOW, "updated_at": NOW,
            "nudge_at": nudge_at, "reminded": bool(overdue or n % 2),
        })
        messages.append({
            "id": n, "mailbox": "support", "folder": "INBOX", "uidvalidity": 1, "uid": n,
            "message_id": f"<b{n}@example.test>", "sha256": f"{n:064x}", "raw": None,
            "size": 100, "sender": f"customer{n}@example.test", "subject": "crushed",
            "sent_date": None, "text": "The cake arrived crushed.", "outcome": "complaint",
            "rule": "complaint", "reason": "", "complaint_id": n, "duplicate_of": None,
            "received_at": NOW - timedelta(days=3),
        })
    with engine.begin() as conn:
        for start in range(0, count, 10_000):
            conn.execute(insert(complaint), rows[start:start + 10_000])
            conn.execute(insert(message), messages[start:start + 10_000])
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    config = from_mapping(CONFIG, Path("/"))
    calendar = BusinessCalendar.from_config(config.business)
    renderer = Renderer("", "en")
    steady, busy = [], []
    plan: list[str] = []
    letters = 0
    with tempfile.TemporaryDirectory() as folder:
        template = Path(folder) / "template.db"
        fill(f"sqlite:///{template}", args.count, args.due)
        for attempt in range(args.repeat):
            db = Path(folder) / f"run{attempt}.db"
            db.write_bytes(template.read_bytes())
            engine = make_engine(f"sqlite:///{db}")
            clock = FixedClock(NOW)
            escalator = Escalator(engine, clock, Mailer(config, renderer, calendar))
            started = time.perf_counter()
            report = escalator.run()
            busy.append(time.perf_counter() - started)
            assert len(report.escalated) == args.due, report
            letters = report.letters
            clock.advance(timedelta(seconds=1))
            started = time.perf_counter()
            report = escalator.run()
            steady.append(time.perf_counter() - started)
            assert not report.escalated, report
            assert not report.reminded, report
            if not plan:
                with engine.connect() as conn:
                    sql = str(_DUE.compile(engine))
                    plan = [str(row[-1]) for row in conn.exec_driver_sql(
                        f"EXPLAIN QUERY PLAN {sql}", (NOW.isoformat(),))]
            engine.dispose()
    result = {
        "open_complaints": args.count,
        "due": args.due,
        "letters_in_busy_run": letters,
        "repeat": args.repeat,
        "steady_run_ms_median": round(1000 * statistics.median(steady), 2),
        "steady_run_ms_max": round(1000 * max(steady), 2),
        "busy_run_ms_median": round(1000 * statistics.median(busy), 2),
        "busy_run_ms_max": round(1000 * max(busy), 2),
        "target_ms": 200,
        "query_plan": plan,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
