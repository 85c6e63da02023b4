"""Benchmark: how much of the sending overlaps the reading of a backlog.

N generated complaints wait in a Dovecot mailbox; one `run_cycle` reads them and
answers them. Reported for each `[smtp] connections` count: the whole cycle's
rate, the moment reading ended and how many holding replies the SMTP sink had
accepted by then, and how long the remaining ones took after it. A sender that
keeps pace with intake leaves a short tail; one that waits for the database's
writer (SQLite has one) sends most letters after reading ended.

    .venv/bin/python -m bench.sending_overlap --count 5000 --connections 1 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlmodel import select

from bench import intake_throughput as throughput
from bench.sink import SmtpSink
from tests.mailstack import MailStack
from triaged import app as wiring
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle
from triaged.store.db import transaction
from triaged.store.models import Complaint, OutboxLetter


def one_run(stack: MailStack, smtp: SmtpSink, mails: list[bytes], connections: int) -> str:
    support = stack.add_user(f"overlap{connections}-{time.monotonic_ns()}@example.test")
    root = Path(tempfile.mkdtemp(prefix="bench-overlap-"))
    app = wiring.build(load(throughput.config_file(stack, smtp, support, root,
                                                   connections=connections)))
    run_cycle(app)  # first contact with the empty mailbox
    stack.append(support, "INBOX", mails)
    started = time.perf_counter()
    run_cycle(app)
    elapsed = time.perf_counter() - started
    with transaction(app.engine) as session:
        registered = [c.received_at for c in session.exec(select(Complaint))]
        sent = [letter.sent_at for letter in session.exec(select(OutboxLetter))
                if letter.sent_at is not None]
    app.close()
    # The times the database recorded: the last complaint registered ends the reading.
    last, first = max(registered), min(registered)
    early = sum(1 for at in sent if at <= last)
    count = len(mails)
    return (f"{connections} connection(s): {count / elapsed:6.1f}/s; reading took "
            f"{(last - first).total_seconds():5.2f} s, with {early} of {count} replies sent "
            f"by its end; the other {count - early} took "
            f"{(max(sent) - last).total_seconds():5.2f} s more")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    with MailStack(fast=True, relay=False) as stack, SmtpSink() as smtp:
        for n in range(args.count):
            stack.add_user(f"customer{n}@example.test")
        mails = throughput.generate(args.count, "support@example.test")
        for connections in args.connections:
            print(one_run(stack, smtp, mails, connections), flush=True)


if __name__ == "__main__":
    main()
