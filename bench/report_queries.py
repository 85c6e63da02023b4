"""Benchmark: the owner's report's queries over 100 000 complaints (target: well under a
second).

Fills a fresh, migrated database (SQLite by default, `--url` for PostgreSQL) with
`--count` complaints spread over `--days` (a year), as a busy shop's history looks:
a holding reply each, 70 % resolved with an approval, half of those answered the
satisfaction check (`tests/support/report_rows.py:history`), all with bulk inserts.
Then times `usecases/report.py:read_figures` (every query of the report, in one
transaction; median of `--repeat`) for the last week and for the whole history
(all 100 000 complaints in the period: the worst case), and the same on a copy of
the database without the report's indexes (`ix_complaint_received_at`,
`ix_event_report_at`), so the ratio shows what they buy. Prints SQLite's plan of
the per-day count.

    .venv/bin/python -m bench.report_queries --count 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from tests.support.report_rows import history
from triaged.core.report.periods import Period
from triaged.store.db import make_engine, migrate, write_transaction
from triaged.usecases.report import read_figures

ZONE = ZoneInfo("Europe/Bucharest")
REPORT_INDEXES = ("ix_complaint_received_at", "ix_event_report_at")
LAST_DAY = date(2026, 11, 29)


def fill(engine: Engine, count: int, days: int) -> None:
    migrate(engine)
    start = datetime.combine(LAST_DAY - timedelta(days=days - 1), datetime.min.time(),
                             tzinfo=ZONE).astimezone(UTC)
    rows = history(start, days, count)
    with write_transaction(engine) as conn:
        rows.write(conn)


def timed(engine: Engine, period: Period, repeat: int) -> tuple[float, int]:
    now = datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time(), tzinfo=ZONE)
    times, received = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        with engine.connect() as conn, conn.begin():
            figures = read_figures(conn, period, now)
        times.append(time.perf_counter() - began)
        received = figures.received
    return statistics.median(times), received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default="", help="a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="report-bench-"))
    url = args.url or f"sqlite:///{folder / 'report.db'}"
    engine = make_engine(url)
    began = time.perf_counter()
    fill(engine, args.count, args.days)
    print(f"filled {args.count} complaints over {args.days} days in "
          f"{time.perf_counter() - began:.1f} s ({engine.dialect.name})")
    week = Period(LAST_DAY - timedelta(days=6), LAST_DAY, ZONE)
    whole = Period(LAST_DAY - timedelta(days=args.days - 1), LAST_DAY, ZONE)
    results = {}
    for name, period in (("last week", week), ("whole history", whole)):
        seconds, received = timed(engine, period, args.repeat)
        results[name] = seconds
        print(f"{name:14} {received:7} complaints in the period: "
              f"{seconds * 1000:8.1f} ms of queries")
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            plan = conn.execute(text(
                "EXPLAIN QUERY PLAN SELECT count(*) FROM complaint "
                "WHERE received_at >= '2026-11-23' AND received_at < '2026-11-24'")).all()
        print("plan of a per-day count:", "; ".join(str(row[-1]) for row in plan))
        engine.dispose()
        bare = folder / "bare.db"
        shutil.copy(folder / "report.db", bare)
        unindexed = make_engine(f"sqlite:///{bare}")
        with unindexed.begin() as conn:
            for index in REPORT_INDEXES:
                conn.execute(text(f"DROP INDEX {index}"))
        for name, period in (("last week", week), ("whole history", whole)):
            seconds, _ = timed(unindexed, period, args.repeat)
            print(f"{name:14} without the report's indexes: {seconds * 1000:8.1f} ms "
                  f"(indexed is {seconds / results[name]:.1f}x faster)")
        unindexed.dispose()
    else:
        engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
