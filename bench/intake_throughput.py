"""Benchmark: N generated complaints in a Dovecot mailbox → `run --once` → replies accepted.

For each count (1 000 and 10 000 by default) and database (SQLite, and the
tests' private PostgreSQL set up as an operator's: fsync and full-page writes on,
commits not waiting for the disk, as SQLite's WAL), reports in one run: complaints registered and
answered per second by triaged's whole cycle in a process of its own; the raw
pipe it is built from (IMAP fetch + MIME parse + SQLite insert + SMTP send, in
one process, nothing else), measured in the same round on the same servers;
their ratio (the target: ≥ 600/s and ≥ 0.8 of the raw pipe); the time from the
cycle's start to the first holding reply accepted by SMTP (≤ 2 s); and the peak
resident memory of triaged with its reading workers (≤ 120 MB). triaged sends on as many
SMTP connections as the raw pipe (4; `--connections 1` for its default). Medians of the
runs, with the load average, as the machine may be shared.

    .venv/bin/python -m bench.intake_throughput --count 1000 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import hashlib
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib
from imapclient import IMAPClient

from bench.sink import SmtpSink
from tests.mailstack import MailStack
from tests.pgserver import PostgresServer
from triaged import app as wiring
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle

BODY = (
    "Hello,\n\nI ordered a birthday cake (order {n}) for Saturday and it arrived crushed on\n"
    "one side. The box was dented too. I would like a replacement or my money back.\n\n"
    "Kind regards,\nCustomer {n}\n"
)


def generate(count: int, support: str) -> list[bytes]:
    out = []
    for n in range(count):
        msg = EmailMessage()
        # Distinct senders: the per-address rate limit would otherwise hold replies back.
        msg["From"] = f"Customer {n} <customer{n}@example.test>"
        msg["To"] = support
        msg["Subject"] = f"Order {n}: cake arrived crushed"
        msg["Date"] = format_datetime(email.utils.localtime())
        msg["Message-ID"] = make_msgid(idstring=f"bench{n}", domain="example.test")
        msg.set_content(BODY.format(n=n))
        out.append(msg.as_bytes())
    return out


class Smtp(Protocol):
    """Where letters go and how many it accepted: the out-of-process sink, or the
    test stack's own in-process server (`--sink-in-process`, the older figures)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def accepted(self) -> int: ...


@dataclass
class StackSmtp:
    stack: MailStack

    @property
    def host(self) -> str:
        return self.stack.host

    @property
    def port(self) -> int:
        return self.stack.smtp_port

    @property
    def accepted(self) -> int:
        return len(self.stack.smtp_received)


# SMTP connections the raw pipe sends on (`send_all`), and triaged by default here: as
# many, so both wait on the sink alike. The contract allows one duplicate letter per
# connection per kill; `--connections 1` measures triaged's own default.
RAW_CONNECTIONS = 4
CONNECTIONS = RAW_CONNECTIONS


def config_file(
    stack: MailStack, smtp: Smtp, support: str, root: Path, mailbox_extra: str = "",
    connections: int | None = None,
) -> Path:
    """A config for one mailbox of `stack`; `mailbox_extra` adds keys to its table."""
    secret = root / "pass"
    secret.write_text(stack.password(support))
    path = root / "config.toml"
    path.write_text(f"""
[business]
name = "Bench Bakery"
timezone = "Europe/Bucharest"
country = "RO"
[[mailboxes]]
name = "support"
address = "{support}"
host = "{stack.host}"
port = {stack.imap_port}
security = "plain"
username = "{support}"
password_file = "{secret}"
{mailbox_extra}
[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "plain"
connections = {connections or CONNECTIONS}
[database]
url = "sqlite:///{root / 'triaged.db'}"
[limits]
# Ten thousand customers at once is the load measured, not a flood to refuse.
auto_letters_per_hour = 0
""")
    return path


def triaged_run(stack: MailStack, smtp: Smtp, mails: list[bytes], name: str,
                url: str | None = None) -> float:
    """Seconds one `run_cycle` takes over `mails`; `url` None means SQLite in a temp folder."""
    support = stack.add_user(f"{name}@example.test")
    root = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    path = config_file(stack, smtp, support, root)
    if url is not None:
        path.write_text(re.sub(r'(?m)^url = ".*"$', f'url = "{url}"', path.read_text()))
    app = wiring.build(load(path))
    run_cycle(app)  # first contact with the empty mailbox
    stack.append(support, "INBOX", mails)
    before = smtp.accepted
    started = time.perf_counter()
    report = run_cycle(app)
    elapsed = time.perf_counter() - started
    app.close()
    app.engine.dispose()
    accepted = smtp.accepted - before
    if report.tally.counts.get("complaint") != len(mails) or accepted != len(mails):
        sys.exit(f"{name}: {report.tally.counts}, {accepted} replies accepted")
    return elapsed


# Run in a child process so that its peak RSS is triaged's alone (the benchmark
# process also holds the sink SMTP server, every accepted letter and the raw pipe).
# The child reports when its cycle started (wall clock), so the parent, which
# watches the sink, can tell when the first holding reply was accepted. It runs
# as `-c`, as `python -m triaged` does: the reading workers, spawned, import
# what reading needs and not the parent's main module.
CHILD = """
import json, sys, time
from triaged import app as wiring
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle
app = wiring.build(load(sys.argv[1]))
began = time.time()
started = time.perf_counter()
report = run_cycle(app)
elapsed = time.perf_counter() - started
app.close()
print(json.dumps({"elapsed": elapsed, "began": began, "counts": report.tally.counts}))
"""


@dataclass
class ChildRun:
    """One `run --once` in a process of its own."""

    rate: float  # complaints answered per second
    first_reply: float  # seconds from the cycle's start to the first reply accepted
    from_launch: float  # the same from the process's launch (imports and wiring included)
    peak_mb: float  # the process and its reading workers together (PSS: shared pages split)
    peak_rss_mb: float  # the same counting shared pages in each process (RSS)


def tree_memory_kb(pid: int) -> tuple[int, int]:
    """Proportional and resident memory of `pid` and its descendants (the reading
    workers), in kB."""
    pss = rss = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return pss, rss


def watch(process: subprocess.Popen[str], smtp: Smtp, before: int) -> tuple[float, int, int]:
    """Until `process` ends: when the sink first accepted a letter (wall clock, 0 if
    never) and the peaks of the process tree's memory (PSS, RSS) in kB."""
    first, peak_pss, peak_rss = 0.0, 0, 0
    while process.poll() is None:
        pss, rss = tree_memory_kb(process.pid)
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        if not first and smtp.accepted > before:
            first = time.time()
        time.sleep(0.005 if not first else 0.05)
    return first, peak_pss, peak_rss


def triaged_child(stack: MailStack, smtp: Smtp, mails: list[bytes], name: str,
                  url: str | None = None) -> ChildRun:
    """One `run_cycle` over `mails` in a fresh process; `url` None means SQLite."""
    support = stack.add_user(f"{name}@example.test")
    root = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    config = config_file(stack, smtp, support, root)
    if url is not None:
        config.write_text(re.sub(r'(?m)^url = ".*"$', f'url = "{url}"', config.read_text()))
    command = [sys.executable, "-c", CHILD, str(config)]
    subprocess.run(command, check=True, capture_output=True)  # first contact
    stack.append(support, "INBOX", mails)
    before = smtp.accepted
    launched = time.time()
    log = root / "child.log"
    with open(log, "w") as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        first, peak, peak_rss = watch(process, smtp, before)
        out, _ = process.communicate()
    if process.returncode != 0:
        sys.exit(f"{name}: exit {process.returncode}; see {log}")
    result = json.loads(out.strip().splitlines()[-1])
    accepted = smtp.accepted - before
    if result["counts"].get("complaint") != len(mails) or accepted != len(mails):
        sys.exit(f"{name}: {result['counts']}, {accepted} replies accepted; see {log}")
    return ChildRun(len(mails) / result["elapsed"], first - result["began"], first - launched,
                    peak / 1024, peak_rss / 1024)


def raw_pipe(stack: MailStack, smtp: Smtp, mails: list[bytes], run_no: int | str) -> float:
    """The same work with no triaged code: the floor any design must pay."""
    support = stack.add_user(f"raw{run_no}@example.test")
    stack.append(support, "INBOX", mails)
    db = sqlite3.connect(Path(tempfile.mkdtemp(prefix="raw")) / "raw.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, sha TEXT, mid TEXT, sender TEXT, "
               "subject TEXT, body TEXT, raw BLOB)")
    started = time.perf_counter()
    client = IMAPClient(stack.host, port=stack.imap_port, ssl=False)
    client.login(support, stack.password(support))
    client.select_folder("INBOX")
    uids = client.search(["ALL"])
    replies: list[tuple[str, bytes]] = []
    for i in range(0, len(uids), 200):
        for _uid, item in client.fetch(uids[i : i + 200], ["BODY.PEEK[]"]).items():
            data = bytes(item[b"BODY[]"])
            msg = email.message_from_bytes(data, policy=default_policy)
            assert isinstance(msg, EmailMessage)
            body = msg.get_body(preferencelist=("plain",))
            text = str(body.get_content()) if body is not None else ""
            db.execute("INSERT INTO m (sha, mid, sender, subject, body, raw) VALUES (?,?,?,?,?,?)",
                       (hashlib.sha256(data).hexdigest(), str(msg["Message-ID"]),
                        str(msg["From"]), str(msg["Subject"]), text, data))
            db.commit()
            reply = EmailMessage()
            reply["From"] = support
            reply["To"] = msg["From"].addresses[0].addr_spec
            reply["Subject"] = f"Re: {msg['Subject']}"
            reply.set_content("Thank you, we have your complaint.")
            replies.append((reply["To"], reply.as_bytes()))
    client.logout()
    asyncio.run(send_all(smtp, support, replies))
    return time.perf_counter() - started


async def send_all(smtp: Smtp, sender: str, replies: list[tuple[str, bytes]]) -> None:
    queue = list(replies)

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname=smtp.host, port=smtp.port,
                                   start_tls=False, local_hostname="bench") as client:
            while queue:
                to, data = queue.pop()
                await client.sendmail(sender, [to], data)

    await asyncio.gather(*(worker() for _ in range(RAW_CONNECTIONS)))


@dataclass
class Row:
    """One count and database: the runs' figures, each list one entry per run."""

    count: int
    database: str
    ours: list[float]
    raw: list[float]
    first: list[float]
    launch: list[float]
    peak: list[float]
    rss: list[float]

    def line(self) -> str:
        ours, raw = statistics.median(self.ours), statistics.median(self.raw)
        ratios = [o / r for o, r in zip(self.ours, self.raw, strict=True)]
        return (f"{self.count:>6} {self.database:<10} {ours:8.1f}/s {raw:8.1f}/s "
                f"{statistics.median(ratios):6.2f} ({min(ratios):.2f}–{max(ratios):.2f}) "
                f"{statistics.median(self.first):7.2f} s {max(self.first):7.2f} s "
                f"{statistics.median(self.launch):7.2f} s "
                f"{max(self.peak):6.0f} MB {max(self.rss):6.0f} MB")


def measure(stack: MailStack, smtp: Smtp, count: int, databases: list[str], repeat: int,
            server: PostgresServer | None) -> list[Row]:
    """`repeat` rounds of: the raw pipe, then triaged on each database, at `count`."""
    mails = generate(count, "support@example.test")
    rows = {db: Row(count, db, [], [], [], [], [], []) for db in databases}
    for run_no in range(repeat):
        raw = count / raw_pipe(stack, smtp, mails, f"{count}-{run_no}")
        for db in databases:
            url = None
            if db == "postgresql":
                assert server is not None
                url = server.create_database(f"bench{count}x{run_no}")
            run = triaged_child(stack, smtp, mails, f"{db}{count}x{run_no}", url)
            row = rows[db]
            row.ours.append(run.rate)
            row.raw.append(raw)
            row.first.append(run.first_reply)
            row.launch.append(run.from_launch)
            row.peak.append(run.peak_mb)
            row.rss.append(run.peak_rss_mb)
            print(f"{count} run {run_no + 1} {db:<10}: triaged {run.rate:7.1f}/s   "
                  f"raw pipe {raw:7.1f}/s   ratio {run.rate / raw:.2f}   "
                  f"first reply {run.first_reply:.2f} s ({run.from_launch:.2f} s from launch)   "
                  f"peak PSS {run.peak_mb:.0f} MB, RSS {run.peak_rss_mb:.0f} MB   "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--database", nargs="+", choices=["sqlite", "postgresql"],
                        default=["sqlite", "postgresql"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=RAW_CONNECTIONS,
                        help="triaged's [smtp] connections (the raw pipe always uses "
                             f"{RAW_CONNECTIONS})")
    args = parser.parse_args()
    global CONNECTIONS
    CONNECTIONS = args.connections
    loads = [os.getloadavg()[0]]
    with MailStack(fast=True, relay=False) as stack, SmtpSink() as smtp, \
            contextlib.ExitStack() as scope:
        server = (scope.enter_context(PostgresServer(durable=True))
                  if "postgresql" in args.database else None)
        for n in range(max(args.count)):
            stack.add_user(f"customer{n}@example.test")
        table: list[Row] = []
        for count in args.count:
            table += measure(stack, smtp, count, args.database, args.repeat, server)
            loads.append(os.getloadavg()[0])
    print(f"\nmedians of {args.repeat} runs; triaged on {CONNECTIONS} SMTP connection(s), the "
          f"raw pipe on {RAW_CONNECTIONS}; raw pipe measured in the same round; "
          f"load average {min(loads):.1f}–{max(loads):.1f}")
    print(f"{'count':>6} {'database':<10} {'triaged':>10} {'raw pipe':>10} "
          f"{'ratio (min–max)':>18} {'1st reply':>9} {'worst':>9} {'launch':>9} "
          f"{'peak PSS':>9} {'RSS':>9}")
    for row in table:
        print(row.line())
    for count in args.count:
        rates = {row.database: statistics.median(row.ours) for row in table
                 if row.count == count}
        if len(rates) == 2:
            print(f"{count}: PostgreSQL / SQLite {rates['postgresql'] / rates['sqlite']:.2f}")


if __name__ == "__main__":
    main()
