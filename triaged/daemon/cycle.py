"""One full cycle (`run --once`): read every mailbox, then escalate, do the
satisfaction checks, the staff digests and the owner's report that are due,
apply the retention of personal data, then send."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from triaged.app import App
from triaged.domain.errors import TransientError
from triaged.usecases.escalation import EscalationReport
from triaged.usecases.intake import Tally

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
    for poller in app.pollers:
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
    try:
        report.escalation = app.escalator.run()
        if app.satisfaction is not None:
            report.satisfaction_letters = app.satisfaction.run()
        if app.digests is not None:
            report.staff_digests = app.digests.run()
        if app.privacy is not None:
            report.customers_erased = app.privacy.run_retention()
        if app.reports is not None:
            report.reports = app.reports.run_scheduled()
    except SQLAlchemyError as error:
        log.error("database: %s", error)
        report.failures.append(f"database: {error}")
    try:
        report.letters_tried = app.sender.drain()
    except SQLAlchemyError as error:
        log.error("database: %s", error)
        report.failures.append(f"database: {error}")
    if app.sender.login_refused:
        # Already logged once by the sender; counted here for the exit status.
        report.failures.append(f"smtp: {app.sender.login_refused}")
    return report
