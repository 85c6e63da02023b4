"""One full cycle (`run --once`): read every mailbox, then escalate, do the
satisfaction checks, the staff digests and the owner's report that are due,
apply the retention of personal data, then send.

Sending overlaps reading: a sending thread drains the outbox from the start,
so the holding replies of the first batch committed leave while later
batches are still fetched and read, whatever the backlog. Each letter keeps
its own guarantees (`usecases.sender`); a last drain after the jobs sends what
they queued.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from triaged.app import App
from triaged.domain.errors import TransientError
from triaged.usecases.escalation import EscalationReport
from triaged.usecases.intake import Tally
from triaged.usecases.polling import MailboxPoller
from triaged.usecases.sender import Sender

log = logging.getLogger("triaged.cycle")


@dataclass
class CycleReport:
    tally: Tally = field(default_factory=Tally)
    letters_tried: int = 0
    escalation: EscalationReport = field(default_factory=EscalationReport)
    satisfaction_letters: int = 0
    staff_digests: int = 0
    customers_erased: int = 0
    reports: int = 0
    failures: list[str] = field(default_factory=list)
    # Mailbox name → messages left alone at this cycle's first contact (start = "now").
    left_alone: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def run_cycle(app: App, *, include_existing: bool = False) -> CycleReport:
    """Poll every mailbox until nothing new is left, remind and escalate what is due,
    then send every due letter (the reminders and digests just queued included).

    A mailbox that cannot be reached is reported in `failures` (exit status 1
    for `run --once`); the other mailboxes and the sender still run. So is an
    SMTP login the server refused (a wrong or expired password or token): an
    unreachable SMTP server is not, as its letters simply wait in the outbox.

    `include_existing` reads, and answers, the mail a `start = "now"` first
    contact left alone as well.
    """
    report = CycleReport()
    sending = Sending(app.sender)
    sending.start()
    try:
        for poller in app.pollers:
            _poll(poller, report, include_existing)
    finally:
        report.letters_tried += sending.finish()
    if sending.error is not None:
        log.error("database: %s", sending.error)
        report.failures.append(f"database: {sending.error}")
    try:
        _chores(app, report)
    except SQLAlchemyError as error:
        log.error("database: %s", error)
        report.failures.append(f"database: {error}")
    try:
        report.letters_tried += app.sender.drain()
    except SQLAlchemyError as error:
        log.error("database: %s", error)
        report.failures.append(f"database: {error}")
    if app.sender.login_refused:
        # Already logged once by the sender; counted here for the exit status.
        report.failures.append(f"smtp: {app.sender.login_refused}")
    return report


class Sending(threading.Thread):
    """Drains the outbox while the mailboxes are read, until `finish`."""

    # How long the thread waits when nothing was due, and when the server is away
    # (its letters wait for their back-off anyway).
    IDLE_SECONDS = 0.05
    AWAY_SECONDS = 1.0

    def __init__(self, sender: Sender) -> None:
        super().__init__(name="triaged-cycle-sender", daemon=True)
        self.sender = sender
        self.tried = 0
        self.error: SQLAlchemyError | None = None
        self._reading_done = threading.Event()

    def run(self) -> None:
        while not self._reading_done.is_set():
            try:
                tried = self.sender.drain()
            except SQLAlchemyError as error:
                self.error = error
                return
            self.tried += tried
            if self.sender.smtp_down or self.sender.login_refused:
                self._reading_done.wait(self.AWAY_SECONDS)
            elif tried == 0:
                self._reading_done.wait(self.IDLE_SECONDS)

    def finish(self) -> int:
        """Stop once the letter in hand is recorded; the delivery attempts made."""
        self._reading_done.set()
        self.join()
        return self.tried


def _poll(poller: MailboxPoller, report: CycleReport, include_existing: bool) -> None:
    """One mailbox until nothing new is left; what it left alone at first contact is
    counted for the summary (`start = "now"`)."""
    poller.include_existing = include_existing
    try:
        poller.poll(report.tally)
    except (TransientError, SQLAlchemyError) as error:
        log.error("%s: %s", poller.mailbox.name, error)
        report.failures.append(f"{poller.mailbox.name}: {error}")
    finally:
        poller.include_existing = False
    if poller.left_alone and not include_existing:
        report.left_alone[poller.mailbox.name] = poller.left_alone
        poller.left_alone = 0


def _chores(app: App, report: CycleReport) -> None:
    """What is due besides the mail: escalation, satisfaction checks, staff digests,
    retention and the owner's report (their letters go with the final drain)."""
    report.escalation = app.escalator.run()
    if app.satisfaction is not None:
        report.satisfaction_letters = app.satisfaction.run()
    if app.digests is not None:
        report.staff_digests = app.digests.run()
    if app.privacy is not None:
        report.customers_erased = app.privacy.run_retention()
    if app.reports is not None:
        report.reports = app.reports.run_scheduled()
