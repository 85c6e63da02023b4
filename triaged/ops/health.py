"""Is the service doing its job? The verdict behind `triaged health` and `GET /health`.

It reads only the database, so any process can give it (a monitoring agent, a
systemd timer, the daemon's own listener) and it stays right after restarts and
with several instances: each mailbox must have been read recently, no letter
may have waited longer than `[metrics] send_stall_after` (all letters are due
the moment they are queued, so a letter that old means the SMTP server refuses
or nothing is sending), the latest delivery attempts may not all have failed
while letters wait (the SMTP server is away or refusing: known at once, not
after a letter has waited that long), and no address of the business's own (staff,
managers, forwarders, mailboxes) may have an open delivery alert or a suppression.
An SQLite database also needs room on its disk: with less than `MIN_FREE_BYTES` free
the next batch cannot commit, and the mail waits in the mailbox until there is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from triaged.config.records import Config
from triaged.store import ops_queries, suppression
from triaged.store.db import head_revision, schema_revision
from triaged.store.ops_queries import OpsFigures
from triaged.usecases.sender import FAILING_RUN

# Room a batch's commit needs at least: its pages, their WAL frames and the indexes.
MIN_FREE_BYTES = 1 << 20


@dataclass(frozen=True)
class MailboxHealth:
    name: str
    polled_at: datetime | None
    stall_after: timedelta

    def age(self, now: datetime) -> timedelta | None:
        return None if self.polled_at is None else now - self.polled_at

    def stalled(self, now: datetime) -> bool:
        age = self.age(now)
        return age is None or age > self.stall_after


@dataclass(frozen=True)
class Health:
    checked_at: datetime
    problems: list[str] = field(default_factory=list)
    mailboxes: list[MailboxHealth] = field(default_factory=list)
    outbox: ops_queries.Outbox = field(default_factory=ops_queries.Outbox)
    send_stall_after: timedelta = timedelta(0)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        now = self.checked_at
        oldest = self.outbox.oldest_waiting_since
        return {
            "healthy": self.healthy,
            "checked_at": now.isoformat(),
            "problems": self.problems,
            "mailboxes": [
                {"name": m.name,
                 "last_poll": m.polled_at.isoformat() if m.polled_at else None,
                 "seconds_since_poll": _seconds(m.age(now)),
                 "stall_after_seconds": m.stall_after.total_seconds()}
                for m in self.mailboxes
            ],
            "outbox": {
                "waiting": self.outbox.waiting,
                "oldest_waiting_seconds": _seconds(now - oldest) if oldest else None,
                "failed": self.outbox.failed,
                "stall_after_seconds": self.send_stall_after.total_seconds(),
            },
        }


def judge(
    config: Config, figures: OpsFigures, now: datetime,
    failing: Sequence[suppression.Entry] = (),
) -> Health:
    """The verdict on one reading of the store (pure); `failing`: the open alerts and
    suppressions of the business's own addresses (`suppression.open_problems`)."""
    mailboxes = [
        MailboxHealth(m.name, figures.polled_at.get(m.name),
                      config.metrics.poll_stall(m.poll_interval))
        for m in config.mailboxes
    ]
    problems = [_poll_problem(m, now) for m in mailboxes if m.stalled(now)]
    outbox = figures.outbox
    limit = config.metrics.send_stall_after
    oldest = outbox.oldest_waiting_since
    if oldest is not None and now - oldest > limit:
        problems.append(
            f"sending has stalled: the oldest of {outbox.waiting} waiting letter(s) was "
            f"queued {_span(now - oldest)} ago (limit {_span(limit)}); is the SMTP server "
            "refusing, or is nothing sending?")
    if outbox.failing >= FAILING_RUN and outbox.waiting:
        problems.append(
            f"sending is failing: the last {outbox.failing} delivery attempt(s) failed, the "
            f"latest with: {outbox.last_error}; {outbox.waiting} letter(s) wait and go out "
            "as soon as the SMTP server accepts them")
    problems.extend(_address_problem(entry) for entry in failing)
    return Health(now, problems, mailboxes, outbox, limit)


def check_health(config: Config, engine: Engine, now: datetime) -> Health:
    """Read the store and judge; a database that cannot be read is itself unhealthy."""
    try:
        revision, head = schema_revision(engine), head_revision()
        if revision != head:
            return Health(now, [f"database: schema is at {revision or 'nothing'}, this "
                                f"triaged needs {head} (starting the daemon migrates it)"])
        with engine.connect() as conn:
            figures = ops_queries.read_figures(conn, now)
            failing = suppression.open_problems(conn, config.own_addresses())
    except SQLAlchemyError as error:
        # The driver's own message: SQLAlchemy's adds the statement and its parameters.
        orig = getattr(error, "orig", None)
        reason = str(orig) if orig is not None else type(error).__name__
        return Health(now, [f"database: cannot read it: {reason}"])
    verdict = judge(config, figures, now, failing)
    full = _disk_problem(engine)
    if full:
        verdict.problems.insert(0, full)
    return verdict


def _disk_problem(engine: Engine) -> str:
    """Why an SQLite database cannot take the next commit, or "" when it can."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return ""
    try:
        disk = os.statvfs(os.path.dirname(os.path.abspath(url.database)))
    except OSError:
        return ""
    free = disk.f_bavail * disk.f_frsize
    if free >= MIN_FREE_BYTES:
        return ""
    return (f"database: the disk holding {url.database} is full ({free} bytes free, "
            f"{MIN_FREE_BYTES} needed): no mail is recorded until space is freed; it waits "
            "in the mailbox and is read as soon as there is room")


def _address_problem(entry: suppression.Entry) -> str:
    since = entry.since.strftime("%Y-%m-%d %H:%M UTC")
    if entry.stops_mail:
        return (f"address {entry.email}: the business's own address is suppressed since "
                f"{since} ({entry.reason}); nothing is sent to it: check it, then "
                f"`triaged suppression lift {entry.email}`")
    return (f"address {entry.email}: mail to this address of the business is not delivered "
            f"since {since} ({entry.reason}); cleared by the next letter delivered to it, "
            f"or `triaged suppression lift {entry.email}`")


def _poll_problem(mailbox: MailboxHealth, now: datetime) -> str:
    age = mailbox.age(now)
    if age is None:
        return f"mailbox {mailbox.name}: never polled successfully"
    return (f"mailbox {mailbox.name}: polling has stalled: last successful poll "
            f"{_span(age)} ago (limit {_span(mailbox.stall_after)})")


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds(), 3)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
