"""Benchmark: N generated complaints in a Dovecot mailbox → `run --once` → replies accepted.

Reports complaints per second for triaged's whole cycle and, measured in the
same run on the same servers, the raw pipe it is built from (IMAP fetch +
MIME parse + SQLite insert + SMTP send, in one process, nothing else), and
the ratio of the two (the target: ≥ 600/s and ≥ 0.7 of the raw pipe).

    .venv/bin/python -m bench.intake_throughput --count 1000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import hashlib
import json
import re
import resource
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


def config_file(
    stack: MailStack, smtp: Smtp, support: str, root: Path, mailbox_extra: str = ""
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
# The peak is VmHWM, not ru_maxrss: after fork + exec, Linux carries the
# parent's peak over into the child's ru_maxrss.
CHILD = """
import json, sys, time
from triaged import app as wiring
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle
app = wiring.build(load(sys.argv[1]))
started = time.perf_counter()
report = run_cycle(app)
elapsed = time.perf_counter() - started
app.close()
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"elapsed": elapsed, "counts": report.tally.counts, "peak_kb": peak}))
"""


def triaged_child(
    stack: MailStack, smtp: Smtp, mails: list[bytes], run_no: int
) -> tuple[float, float]:
    """One `run_cycle` in a fresh process: (complaints per second, peak RSS in MB)."""
    support = stack.add_user(f"child{run_no}@example.test")
    root = Path(tempfile.mkdtemp(prefix=f"bench-child{run_no}-"))
    config = config_file(stack, smtp, support, root)
    command = [sys.executable, "-c", CHILD, str(config)]
    subprocess.run(command, check=True, capture_output=True)  # first contact
    stack.append(support, "INBOX", mails)
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["counts"].get("complaint") != len(mails):
        sys.exit(f"child run {run_no}: {result['counts']}")
    return len(mails) / result["elapsed"], result["peak_kb"] / 1024


def raw_pipe(stack: MailStack, smtp: Smtp, mails: list[bytes], run_no: int) -> float:
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

    await asyncio.gather(*(worker() for _ in range(4)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-rss", action="store_true",
                        help="skip the extra run in a child process that measures peak RSS")
    parser.add_argument("--sink-in-process", action="store_true",
                        help="send to the test stack's SMTP server, a thread of this process "
                             "(slower: both ends of SMTP share one GIL)")
    args = parser.parse_args()
    mails = generate(args.count, "support@example.test")
    ours, raw = [], []
    # A sink SMTP server: a complaint counts once SMTP accepted its holding reply.
    with MailStack(fast=True, relay=False) as stack, contextlib.ExitStack() as scope:
        smtp: Smtp = StackSmtp(stack) if args.sink_in_process else scope.enter_context(SmtpSink())
        print(f"SMTP sink: {'in this process' if args.sink_in_process else 'own process'}")
        for n in range(args.count):
            stack.add_user(f"customer{n}@example.test")
        for run_no in range(args.repeat):
            raw.append(args.count / raw_pipe(stack, smtp, mails, run_no))
            ours.append(args.count / triaged_run(stack, smtp, mails, f"support{run_no}"))
            print(f"run {run_no + 1}: triaged {ours[-1]:7.1f}/s   raw pipe {raw[-1]:7.1f}/s   "
                  f"ratio {ours[-1] / raw[-1]:.2f}", flush=True)
        if not args.no_rss:
            child_rate, child_rss = triaged_child(stack, smtp, mails, 0)
    print(f"\n{args.count} complaints × {args.repeat} runs (median, min–max):")
    print(f"  triaged run --once : {statistics.median(ours):7.1f}/s  "
          f"({min(ours):.1f}–{max(ours):.1f})")
    print(f"  raw pipe           : {statistics.median(raw):7.1f}/s  "
          f"({min(raw):.1f}–{max(raw):.1f})")
    print(f"  ratio              : {statistics.median(ours) / statistics.median(raw):.2f}")
    if not args.no_rss:
        # The target: ≤ 120 MB RSS while ingesting 10 000 messages.
        print(f"  triaged in its own process: {child_rate:7.1f}/s, peak RSS {child_rss:.0f} MB")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  (benchmark process peak RSS {own:.0f} MB: sink server, letters, raw pipe)")


if __name__ == "__main__":
    main()
