"""Benchmark: `triaged export`, `triaged import` and `triaged backup` on N complaints.

Fills a fresh, migrated SQLite database with N answered complaints, each with its
raw mail (about 1.5 kB), two events and its holding letter (raw, about 2 kB), and
a follow-up for every fifth; then runs the console commands as an operator does,
each as its own process, and reports wall time, rows per second and the peak
resident memory of that process (from wait4), so that streaming shows as a peak
that does not grow with N. `start` (`migrate --check`: imports, opens the
database, reads its revision) is the floor of time and memory every command
pays; `backup` (SQLite copying its own pages) is the reference the export and
import are compared with, measured in the same run.

    .venv/bin/python -m bench.export_import --count 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from triaged.store.db import make_engine, migrate
from triaged.store.models import metadata

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BODY = ("Hello,\n\nthe birthday cake I ordered for Saturday arrived crushed: the box was "
        "open on one side and the cream was all over it. The party was ruined. I would "
        "like my money back, or at least an explanation of what happened.\n\n") * 3


def config(folder: Path, db: Path, name: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f"""
[business]
name = "Bench Bakery"
timezone = "Europe/Bucharest"

[[mailboxes]]
address = "support@bench.example"
host = "localhost"

[smtp]
host = "localhost"

[database]
url = "sqlite:///{db}"
""")
    return path


def raw_mail(n: int) -> bytes:
    return (f"From: Customer {n} <customer{n}@example.test>\r\nTo: support@bench.example\r\n"
            f"Subject: Order {n}: cake arrived crushed\r\nMessage-ID: <b{n}@example.test>\r\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0200\r\n\r\n{BODY}").encode()


def fill(db: Path, count: int) -> int:
    """N complaints with their mail, events and letters; returns the number of rows."""
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    tables = metadata.tables
    total = 0
    with engine.begin() as conn:
        for start in range(1, count + 1, 2000):
            batch = range(start, min(count, start + 1999) + 1)
            rows: dict[str, list[dict[str, object]]] = {
                "complaint": [], "message": [], "event": [], "outbox_letter": []}
            for n in batch:
                rows["complaint"].append({
                    "id": n, "reference": f"B{n:07d}X", "mailbox": "support",
                    "state": "acknowledged", "customer_email": f"customer{n}@example.test",
                    "customer_name": f"Customer {n}", "subject": f"Order {n}: cake crushed",
                    "language": "en", "received_at": NOW, "due_at": NOW + timedelta(days=7),
                    "escalation_level": 0, "category": "quality", "priority": "normal",
                    "created_at": NOW, "updated_at": NOW, "nudge_at": NOW + timedelta(days=6),
                    "reminded": False})
                follow_ups = [n * 2, n * 2 + 1] if n % 5 == 0 else [n * 2]
                for message_id in follow_ups:
                    raw = raw_mail(message_id)
                    rows["message"].append({
                        "id": message_id, "mailbox": "support", "folder": "INBOX",
                        "uidvalidity": 1, "uid": message_id,
                        "message_id": f"<b{message_id}@example.test>",
                        "sha256": f"{message_id:064x}", "raw": raw, "size": len(raw),
                        "sender": f"customer{n}@example.test", "subject": "crushed",
                        "sent_date": NOW, "text": BODY, "outcome": "complaint",
                        "rule": "", "reason": "", "complaint_id": n, "duplicate_of": None,
                        "received_at": NOW})
                for kind in ("registered", "acknowledged"):
                    rows["event"].append({
                        "complaint_id": n, "message_row_id": n * 2, "at": NOW, "kind": kind,
                        "actor": "triaged", "detail": f'{{"reference": "B{n:07d}X"}}'})
                rows["outbox_letter"].append({
                    "complaint_id": n, "kind": "holding", "to_email": f"customer{n}@example.test",
                    "message_id": f"<h{n}@bench.example>", "subject": f"Re: Order {n}",
                    "raw": raw_mail(n) + BODY.encode()[:500], "automatic": True, "state": "sent",
                    "attempts": 1, "next_attempt_at": NOW, "last_error": "", "created_at": NOW,
                    "sent_at": NOW})
            for name, values in rows.items():
                conn.execute(insert(tables[name]), values)
                total += len(values)
    engine.dispose()
    return total


def timed(*args: str) -> tuple[float, float]:
    """Run `triaged ARGS` as its own process; (seconds, peak RSS in MB)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "triaged", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"triaged {' '.join(args)} failed: {process.stderr.read().decode()}"
                         if process.stderr else "failed")
    return elapsed, usage.ru_maxrss / 1024


def one_run(folder: Path, source: Path, run: int) -> dict[str, tuple[float, float]]:
    export = folder / f"export-{run}.jsonl"
    target = folder / f"imported-{run}.db"
    return {
        # The floor: a command that starts, opens the database and reads one row.
        "start": timed("--config", str(config(folder, source, "src")), "migrate", "--check"),
        "backup": timed("--config", str(config(folder, source, "src")), "backup",
                        str(folder / f"backup-{run}.db")),
        "export": timed("--config", str(config(folder, source, "src")), "export", "-o",
                        str(export)),
        "import": timed("--config", str(config(folder, target, f"dst-{run}")), "import",
                        str(export)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="complaints")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="triaged-bench-") as tmp:
        folder = Path(tmp)
        source = folder / "source.db"
        rows = fill(source, args.count)
        runs = [one_run(folder, source, n) for n in range(args.repeat)]
        size = (folder / "export-0.jsonl").stat().st_size / 1e6
        print(f"{args.count} complaints, {rows} rows; database {source.stat().st_size / 1e6:.1f}"
              f" MB, export file {size:.1f} MB; {args.repeat} runs, median [min-max]")
        medians = {}
        for step in ("start", "backup", "export", "import"):
            seconds = [run[step][0] for run in runs]
            peak = max(run[step][1] for run in runs)
            medians[step] = statistics.median(seconds)
            speed = "" if step == "start" else f"{rows / medians[step]:8.0f} rows/s"
            print(f"  {step:<7} {medians[step]:6.2f} s [{min(seconds):.2f}-{max(seconds):.2f}]"
                  f"  {speed:>15}  peak RSS {peak:5.0f} MB")
        print(f"  export / backup time: {medians['export'] / medians['backup']:.1f}x, "
              f"import / backup: {medians['import'] / medians['backup']:.1f}x "
              "(each includes the process start above)")


if __name__ == "__main__":
    main()
