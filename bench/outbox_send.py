"""Benchmark: the sender alone, N queued letters → `Sender.drain()` → accepted by SMTP.

The letters are holding replies of N received complaints, so recording each
one also acknowledges its complaint and writes its events, as in production.
Compares SMTP connection counts (`[smtp] connections`) in one run, against an
out-of-process sink that accepts at once and one that takes a few
milliseconds per message, as a remote MTA writing its queue does. With
`--baseline PATH`, the same drain also runs from another checkout of triaged
(e.g. the main branch) in the same sitting; report ratios, never bare times.
Beside the rate, the sending process's CPU time per letter (user + system, the
sink excluded): on a shared machine it moves far less than the rate does.

    .venv/bin/python -m bench.outbox_send --count 2000 --baseline ../main
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.sink import SmtpSink

CHILD = """
import json, sys, time
from datetime import UTC, datetime, timedelta
from triaged.adapters.smtp import SmtpSettings, SmtpTransport
from triaged.domain.clock import SystemClock
from triaged.store import outbox_rows, rows
from triaged.store.db import ensure_schema, make_engine, writer
from triaged.usecases.sender import Sender
url, port, count, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
engine = make_engine(url)
ensure_schema(engine, migrate_on_start=True)
now = datetime.now(UTC)
raw = (b"From: Acme Bakery <support@example.test>\\r\\nTo: c@example.test\\r\\n"
       b"Subject: Re: cake\\r\\nMessage-ID: <m@example.test>\\r\\n\\r\\n"
       + b"We are on it.\\r\\n" * 40)
with writer(engine) as conn, conn.begin():
    for n in range(count):
        to = f"customer{n}@example.test"
        complaint = rows.insert_complaint(conn, rows.NewComplaintRow(
            reference=f"B{n}", mailbox="support", customer_email=to, customer_name="C",
            subject="cake", language="en", received_at=now, due_at=now + timedelta(days=2),
            now=now))
        outbox_rows.queue_letter(conn, complaint_id=complaint, kind="holding", to_email=to,
                                 message_id=f"<b{n}@bench>", subject="Re: cake", raw=raw,
                                 automatic=True, now=now)
transport = SmtpTransport(SmtpSettings("127.0.0.1", port, "plain", connections=connections))
sender = Sender(engine, SystemClock(), transport, max_attempts=8)
started, cpu = time.perf_counter(), time.process_time()
tried = sender.drain()
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"elapsed": elapsed, "cpu": cpu, "tried": tried}))
"""


def drain(code: Path, port: int, count: int, connections: int) -> tuple[float, float]:
    """(letters per second, CPU ms per letter) of one drain of `count` letters, run from
    checkout `code`."""
    folder = tempfile.mkdtemp(prefix="bench-send-")
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, f"sqlite:///{folder}/t.db", str(port), str(count),
         str(connections)], env=env, check=True, capture_output=True, text=True, cwd=folder)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["tried"] != count:
        sys.exit(f"{code}: {result}")
    return float(count / result["elapsed"]), float(result["cpu"] * 1000 / count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", default="1,2,4")
    parser.add_argument("--delay", type=float, default=0.005,
                        help="seconds the slow sink takes to accept each message")
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    counts = [int(n) for n in args.connections.split(",")]
    runs: list[tuple[str, Path, int]] = [(f"this, {n} conn", here, n) for n in counts]
    if args.baseline is not None:
        runs += [(f"baseline, {n} conn", args.baseline.resolve(), n) for n in counts]
    for delay in (0.0, args.delay):
        with SmtpSink(delay=delay) as sink:
            rates: dict[str, list[float]] = {name: [] for name, _, _ in runs}
            costs: dict[str, list[float]] = {name: [] for name, _, _ in runs}
            for _ in range(args.repeat):
                for name, code, n in runs:
                    before = sink.accepted
                    rate, cost = drain(code, sink.port, args.count, n)
                    rates[name].append(rate)
                    costs[name].append(cost)
                    assert sink.accepted - before == args.count, "a letter was not accepted"
        first = statistics.median(rates[runs[0][0]])
        first_cost = statistics.median(costs[runs[0][0]])
        print(f"\n{args.count} letters, sink accepting after {delay * 1000:.0f} ms "
              f"(median of {args.repeat}; ratio to '{runs[0][0]}'):")
        for name, _, _ in runs:
            rate, cost = statistics.median(rates[name]), statistics.median(costs[name])
            print(f"  {name:20} {rate:8.1f} letters/s   ratio {rate / first:.2f}   "
                  f"CPU {cost:.3f} ms/letter   ratio {cost / first_cost:.2f}")


if __name__ == "__main__":
    main()
