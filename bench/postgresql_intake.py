"""Benchmark: `run --once` over N complaints with the database on SQLite and on PostgreSQL.

The same generated mail, the same private Dovecot and SMTP sink, alternating runs;
reports complaints registered and answered (holding reply accepted by SMTP) per
second for each database and the ratio of the two, measured in the same run. The
PostgreSQL is the private one the tests use (tests/pgserver.py, on loopback), set up as
an operator's: fsync and full-page writes on, commits not waiting for the disk.

    .venv/bin/python -m bench.postgresql_intake --count 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics

from bench.intake_throughput import generate, triaged_run
from bench.sink import SmtpSink
from tests.mailstack import MailStack
from tests.pgserver import PostgresServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    mails = generate(args.count, "support@example.test")
    sqlite, postgresql = [], []
    with MailStack(fast=True, relay=False) as stack, SmtpSink() as smtp, \
            PostgresServer(durable=True) as server:
        for n in range(args.count):
            stack.add_user(f"customer{n}@example.test")
        for run_no in range(args.repeat):
            sqlite.append(args.count / triaged_run(stack, smtp, mails, f"sqlite{run_no}"))
            url = server.create_database(f"bench{run_no}")
            postgresql.append(args.count / triaged_run(stack, smtp, mails, f"pg{run_no}", url))
            print(f"run {run_no + 1}: SQLite {sqlite[-1]:7.1f}/s   "
                  f"PostgreSQL {postgresql[-1]:7.1f}/s   "
                  f"ratio {postgresql[-1] / sqlite[-1]:.2f}", flush=True)
    print(f"\n{args.count} complaints × {args.repeat} runs (median, min–max):")
    for name, rates in (("SQLite", sqlite), ("PostgreSQL", postgresql)):
        print(f"  {name:<11}: {statistics.median(rates):7.1f}/s  "
              f"({min(rates):.1f}–{max(rates):.1f})")
    print(f"  ratio PostgreSQL / SQLite: "
          f"{statistics.median(postgresql) / statistics.median(sqlite):.2f}")


if __name__ == "__main__":
    main()
