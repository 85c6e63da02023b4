"""Benchmark: one Prometheus scrape of the database figures, 100 000 complaints in SQLite.

Fills a fresh, migrated SQLite database as a busy shop's would look after a
while: N complaints (70 % resolved or closed, the rest open, some overdue at
every escalation level), one message each plus N/10 robots' messages left
unanswered, ~5 events per complaint with approvals and refused replies, one
sent holding reply each, a few letters waiting or failed, some quarantine.

Then times what a scrape costs: the database part (`ops_queries.read_figures`)
and the whole `/metrics` body (`generate_latest` over the daemon's registry),
median of `--repeat`, and, in the same run on a copy without migration 0005's
partial indexes, the same database part, so the ratio shows what the indexes
buy. Prints SQLite's plan for each query. Finally, what the indexes cost
intake: `--inserts` new complaints, each in its own transaction as intake
writes them (complaint, message, three events), with and without the indexes.

    .venv/bin/python -m bench.metrics_scrape --count 100000 --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest
from sqlalchemy import Engine, event, insert, text

from triaged.config.loading import from_mapping
from triaged.ops.metrics import Metrics
from triaged.ops.scrape import DatabaseCollector, Target
from triaged.store import ops_queries
from triaged.store.db import make_engine, migrate
from triaged.store.models import metadata

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CONFIG = {
    "business": {"name": "Bench Bakery", "timezone": "Europe/Bucharest", "country": ""},
    "mailboxes": [{"name": "support", "address": "support@bench.example", "host": "localhost"}],
    "smtp": {"host": "localhost"},
    "managers": [{"email": "dana@bench.example", "level": 1},
                 {"email": "ana@bench.example", "level": 2}],
}
OPEN_STATES = ("acknowledged", "in_progress", "awaiting_approval")
ROBOT_RULES = ("auto-submitted", "delivery-report", "list-headers", "daemon-sender")
PARTIAL_INDEXES = ("ix_complaint_open", "ix_event_decisions", "ix_message_unanswered")


def fill(url: str, count: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    tables = metadata.tables
    complaints, messages, events, letters = [], [], [], []
    for n in range(1, count + 1):
        done = n % 10 < 7
        state = ("resolved", "closed")[n % 2] if done else OPEN_STATES[n % 3]
        # Open ones: due over the coming weeks, one in eight already overdue.
        due_at = NOW - timedelta(hours=n % 50) if not done and n % 8 == 0 else (
            NOW + timedelta(seconds=20 * n))
        level = n % 3 if not done and due_at < NOW else 0
        received = NOW - timedelta(days=30) + timedelta(seconds=20 * n)
        complaints.append({
            "id": n, "reference": f"B{n:07d}X", "mailbox": "support", "state": state,
            "customer_email": f"customer{n}@example.test", "customer_name": f"Customer {n}",
            "subject": f"Order {n}", "language": "en", "received_at": received,
            "due_at": due_at, "escalation_level": level, "category": "quality",
            "priority": "normal", "created_at": received, "updated_at": received,
            "nudge_at": None if done else due_at, "reminded": False,
        })
        messages.append(_message(n, "complaint", "complaint", n, received))
        kinds = ["registered", "categorized", "letter_queued", "letter_sent"]
        if done:
            kinds += ["approved", "reply_accepted", "state_changed"]
        if n % 97 == 0:
            kinds.append("reply_refused")
        if n % 211 == 0:
            kinds.append("letter_suppressed")
        events += [{"complaint_id": n, "at": received, "kind": kind, "actor": "system",
                    "detail": '{"why": "rate limit 3/24h"}' if kind == "letter_suppressed"
                    else "{}"} for kind in kinds]
        letters.append({
            "id": n, "complaint_id": n, "kind": "holding", "to_email": f"customer{n}@example.test",
            "message_id": f"<h{n}@bench.example>", "subject": "Re: order", "raw": b"x" * 2000,
            "automatic": True, "state": "sent", "attempts": 0, "next_attempt_at": received,
            "last_error": "", "created_at": received, "sent_at": received,
        })
    for k in range(1, count // 10 + 1):
        messages.append(_message(count + k, "not_complaint", ROBOT_RULES[k % 4], None, NOW))
    for k in range(60):  # a few waiting (some backing off) and a few given up on
        n = count + k + 1
        letters.append({**letters[k], "id": n, "message_id": f"<w{n}@bench.example>",
                        "state": "queued" if k < 50 else "failed", "attempts": k % 4,
                        "created_at": NOW - timedelta(minutes=k), "sent_at": None})
    with engine.begin() as conn:
        for table, rows in (("complaint", complaints), ("message", messages),
                            ("event", events), ("outbox_letter", letters)):
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(tables[table]), rows[start:start + 10_000])
        conn.execute(insert(tables["quarantine"]),
                     [{"message_row_id": m, "reason": "unparseable", "state": "open",
                       "created_at": NOW} for m in range(1, 41)])
        conn.execute(insert(tables["mailbox_cursor"]),
                     [{"mailbox": "support", "folder": "INBOX", "uidvalidity": 1,
                       "last_uid": count, "polled_at": NOW}])
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"filled: {len(complaints)} complaints, {len(messages)} messages, "
          f"{len(events)} events, {len(letters)} letters")


def _message(n: int, outcome: str, rule: str, complaint: int | None,
             at: datetime) -> dict[str, object]:
    return {"id": n, "mailbox": "support", "folder": "INBOX", "uidvalidity": 1, "uid": n,
            "message_id": f"<m{n}@example.test>", "sha256": f"{n:064x}", "raw": None,
            "size": 100, "sender": f"customer{n}@example.test", "subject": "s",
            "sent_date": None, "text": "text", "outcome": outcome, "rule": rule, "reason": "",
            "complaint_id": complaint, "duplicate_of": None, "received_at": at}


def timed(work: Callable[[], object], repeat: int) -> float:
    work()  # warm the page cache and the statement cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def plans(engine: Engine) -> list[str]:
    """SQLite's plan for every statement a scrape runs."""
    captured: list[tuple[str, object]] = []

    def keep(_conn: object, _cursor: object, statement: str, parameters: object,
             *_rest: object) -> None:
        if not statement.startswith("EXPLAIN"):
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with engine.connect() as conn:
            ops_queries.read_figures(conn, NOW)
            return [
                " ".join(statement.split())[:90] + " -> " + "; ".join(
                    str(row[-1]) for row in conn.exec_driver_sql(
                        "EXPLAIN QUERY PLAN " + statement, parameters).all())  # type: ignore[arg-type]
                for statement, parameters in captured
            ]
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def insert_cost(url: str, count: int, first: int) -> float:
    """Seconds per complaint written the way intake writes one (one transaction each)."""
    engine = make_engine(url)
    tables = metadata.tables
    started = time.perf_counter()
    for n in range(first, first + count):
        received = NOW + timedelta(seconds=n)
        with engine.begin() as conn:
            conn.execute(insert(tables["complaint"]), {
                "id": n, "reference": f"N{n:07d}X", "mailbox": "support",
                "state": "acknowledged", "customer_email": f"new{n}@example.test",
                "received_at": received, "due_at": received + timedelta(days=5),
                "created_at": received, "updated_at": received})
            conn.execute(insert(tables["message"]), _message(n, "complaint", "complaint", n,
                                                             received))
            conn.execute(insert(tables["event"]), [
                {"complaint_id": n, "at": received, "kind": kind, "actor": "system",
                 "detail": "{}"} for kind in ("registered", "categorized", "letter_queued")])
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--inserts", type=int, default=3000)
    args = parser.parse_args()
    config = from_mapping(CONFIG, Path("/"))
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        fill(f"sqlite:///{db}", args.count)
        bare = Path(folder) / "bare.db"
        bare.write_bytes(db.read_bytes())
        engine = make_engine(f"sqlite:///{db}")
        metrics = Metrics()
        metrics.watch_mailbox("support")
        metrics.registry.register(DatabaseCollector(lambda: Target(config, engine, NOW)))

        def read(target: Engine) -> Callable[[], object]:
            def work() -> object:
                with target.connect() as conn:
                    return ops_queries.read_figures(conn, NOW)
            return work

        database = timed(read(engine), args.repeat)
        whole = timed(lambda: generate_latest(metrics.registry), args.repeat)
        body = generate_latest(metrics.registry).decode()
        figures = read(engine)()
        for line in plans(engine):
            print("plan:", line)
        engine.dispose()

        without = make_engine(f"sqlite:///{bare}")
        with without.begin() as conn:
            for name in PARTIAL_INDEXES:
                conn.execute(text(f"DROP INDEX {name}"))
        slow = timed(read(without), args.repeat)
        assert read(without)() == figures, "the indexes must not change the answer"
        without.dispose()
        # Alternate the two databases so that a noisy neighbour hits both alike.
        first = args.count * 2
        with_cost, bare_cost = [], []
        for _ in range(3):
            with_cost.append(insert_cost(f"sqlite:///{db}", args.inserts // 3, first))
            bare_cost.append(insert_cost(f"sqlite:///{bare}", args.inserts // 3, first))
            first += args.inserts // 3
    print(f"figures: {figures}")
    print(f"/metrics body: {len(body)} bytes, {body.count(chr(10))} lines")
    print(f"scrape, database part: {database * 1000:.2f} ms (median of {args.repeat})")
    print(f"scrape, whole /metrics body: {whole * 1000:.2f} ms")
    print(f"same database part without the partial indexes: {slow * 1000:.2f} ms "
          f"(ratio {slow / database:.1f}x)")
    cost, base = statistics.median(with_cost), statistics.median(bare_cost)
    print(f"intake-shaped insert of one complaint: {cost * 1e6:.0f} µs with the indexes, "
          f"{base * 1e6:.0f} µs without (ratio {cost / base:.2f})")


if __name__ == "__main__":
    main()
