"""Benchmark: a poll with nothing new, with 50 000 messages already in the folder.

The target: ≤ 50 ms, and the cost grows with new mail only. The folder holds N
messages that triaged has already passed (cursor at the top, as after
processing them with `processed_folder = ""`, which leaves them in place
flagged \\Seen: the worst case, since a naive poll would SEARCH or FETCH them
all). Then it times, median of `--repeat`:

* `MailboxPoller.poll()` with nothing new (what the daemon runs every
  `poll_interval` and on every IDLE wake-up);
* the whole `run --once` cycle with nothing to do (poll, escalation scan, outbox);
* for reference, measured in the same run: a bare IMAP `SELECT` of the folder
  from an open connection, what a poll that re-selects its folder pays (a
  caught-up poll asks NOOP instead: see `ImapSource._quiet_since_caught_up`).

    .venv/bin/python -m bench.empty_poll --count 50000 --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imapclient import IMAPClient

from bench.intake_throughput import config_file, generate
from tests.mailstack import MailStack
from triaged import app as wiring
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle


@dataclass
class NoSmtp:
    """No letter is due in this benchmark: the SMTP server is never contacted."""

    host: str = "127.0.0.1"
    port: int = 9
    accepted: int = 0


def median_ms(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with MailStack(fast=True, relay=False) as stack:
        support = stack.add_user("support@example.test")
        root = Path(tempfile.mkdtemp(prefix="bench-empty-poll-"))
        path = config_file(stack, NoSmtp(), support, root,
                           mailbox_extra='processed_folder = ""\nidle = false')
        app = wiring.build(load(path))
        started = time.perf_counter()
        mails = generate(min(args.count, 1000), "support@example.test")
        for start in range(0, args.count, len(mails)):
            stack.append(support, "INBOX", mails[: args.count - start])
        print(f"{args.count} messages appended in {time.perf_counter() - started:.0f} s")
        # First contact with start = "now": the cursor goes to the top of the folder,
        # exactly where it stands after processing them all with processed_folder = "".
        run_cycle(app)
        uids = stack.folder_uids(support)
        assert len(uids.uids) == args.count, "the mail is still in the folder"
        (poller,) = app.pollers

        def poll() -> None:
            tally = poller.poll()
            assert not tally.counts, tally.counts  # nothing new was read

        def cycle() -> None:
            report = run_cycle(app)
            assert report.ok, report.failures
            assert not report.tally.counts, report.tally.counts

        client = IMAPClient(stack.host, port=stack.imap_port, ssl=False)
        client.login(support, stack.password(support))
        client.select_folder("INBOX")

        poll()  # the poller's connection is open from here on, as in the daemon
        poll_ms, poll_max = median_ms(poll, args.repeat)
        cycle_ms, cycle_max = median_ms(cycle, args.repeat)
        select_ms, select_max = median_ms(lambda: client.select_folder("INBOX"), args.repeat)
        client.logout()
        app.close()
    print(f"\nnothing new, {args.count} messages in the folder (median of {args.repeat}, max):")
    print(f"  poll            : {poll_ms:7.2f} ms  (max {poll_max:.2f})   target ≤ 50 ms")
    print(f"  run --once cycle: {cycle_ms:7.2f} ms  (max {cycle_max:.2f})")
    print(f"  bare IMAP SELECT: {select_ms:7.2f} ms  (max {select_max:.2f})   reference")


if __name__ == "__main__":
    main()
