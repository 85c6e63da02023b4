"""The owner's report: its figures, the letter on demand, and the scheduled letter.

`Reports.figures` reads a period's figures (`store/report_queries.py`);
`Reports.send` queues the letter to `report.to` now; `Reports.run_scheduled`
(a daemon job, and part of `run --once`) queues it when its time has come,
once per period: the period is claimed by a `report_run` row inserted in the
same transaction as the letters, so a restart or a second instance on the
same PostgreSQL finds the claim and sends nothing. The letters go through
the outbox like any other, with the normal return path: a bounce is recorded
and, `report.to` being the business's own addresses, alerts without ever
stopping the next report.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from triaged.core.report.figures import OldComplaint, ReportFigures, categories, spread
from triaged.core.report.letter import ReportLetter, report_letter
from triaged.core.report.periods import Period, due_report
from triaged.domain.clock import Clock
from triaged.domain.records import Address, Letter, LetterKind
from triaged.store import ops_queries, report_queries
from triaged.store.db import write_transaction, writer
from triaged.store.journal import Journal
from triaged.usecases.mailer import Mailer

log = logging.getLogger("triaged.report")


class Reports:
    def __init__(self, engine: Engine, mailer: Mailer, clock: Clock) -> None:
        self.engine = engine
        self.mailer = mailer
        self.clock = clock
        self.config = mailer.config
        self._last_run = -float("inf")

    def figures(self, period: Period, now: datetime | None = None) -> ReportFigures:
        now = now or self.clock.now()
        with writer(self.engine) as conn, conn.begin():
            return read_figures(conn, period, now)

    def letter(self, figures: ReportFigures) -> ReportLetter:
        business = self.config.business
        return report_letter(figures, business.name, business.language)

    def send(self, period: Period) -> int:
        """Queue the period's report to every `report.to` address now; how many."""
        now = self.clock.now()
        with write_transaction(self.engine) as conn:
            return self._queue(conn, read_figures(conn, period, now), now)

    def run_scheduled(self, *, at_most_every: float = 0.0) -> int:
        """Queue the scheduled report when it is due and not yet claimed; letters queued."""
        if time.monotonic() - self._last_run < at_most_every:
            return 0
        self._last_run = time.monotonic()
        now = self.clock.now()
        due = due_report(self.config.report, self.config.business.zone, now)
        if due is None:
            return 0
        period = due.period
        with write_transaction(self.engine) as conn:
            if not report_queries.claim_period(conn, due.key, period.since, period.until,
                                               now):
                return 0
            queued = self._queue(conn, read_figures(conn, period, now), now)
        log.info("owner's report for %s queued to %d address(es)", due.key, queued)
        return queued

    def _queue(self, conn: Connection, figures: ReportFigures, now: datetime) -> int:
        made = self.letter(figures)
        with Journal(conn) as journal:
            for to in self.config.report.to:
                letter = Letter(kind=LetterKind.REPORT, to=Address(to, ""),
                                subject=made.subject, text=made.text, html=made.html,
                                language=made.language, auto_submitted="auto-generated",
                                files=made.images)
                self.mailer.queue(journal, letter, complaint_id=None, mailbox="", now=now)
        return len(self.config.report.to)


def read_figures(conn: Connection, period: Period, now: datetime) -> ReportFigures:
    since, until = period.since, period.until
    before = period.previous()
    counts = report_queries.received_per_day(conn, period.day_starts())
    on_time, late = report_queries.promises(conn, since, until)
    answers = report_queries.satisfaction(conn, since, until)
    return ReportFigures(
        period=period,
        per_day=tuple(zip(period.days, counts, strict=True)),
        by_category=categories(report_queries.by_category(conn, since, until),
                               report_queries.by_category(conn, before.since, before.until)),
        on_time=on_time,
        late=late,
        first_reply=spread(report_queries.first_reply_seconds(conn, since, until)),
        resolution=spread(report_queries.resolution_seconds(conn, since, until)),
        overdue_by_level=ops_queries.overdue_by_level(conn, now),
        settled=answers.settled,
        reopened=answers.reopened,
        no_answer=answers.no_answer,
        oldest_open=tuple(OldComplaint(o.reference, o.received_at, o.state, o.category)
                          for o in report_queries.oldest_open(conn)),
        as_of=now,
    )
