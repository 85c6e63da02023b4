"""After the final letter: the satisfaction check, and closing when all is quiet.

`Satisfaction.run()` is a daemon job (and part of `run --once`): for each
resolved complaint whose final letter was delivered `satisfaction.check_after`
ago, it queues a short letter in the customer's language asking whether the
matter is settled; when the customer then says nothing for
`satisfaction.close_after`, the complaint is closed. `on_reply` is what
intake does when the customer writes on a resolved or closed complaint: a
plain "yes" to the check closes it, anything else reopens it and tells staff.
Each complaint is handled in a transaction of its own.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy.engine import Engine

from triaged import logs
from triaged.core.letters.final import ClosingFacts, satisfaction_letter
from triaged.core.reply_text import new_text, says_settled
from triaged.domain.clock import Clock
from triaged.domain.mailbox_key import same_mailbox
from triaged.domain.records import Address, ComplaintRef, ComplaintState, ParsedMail
from triaged.store import approval_rows, ladder_rows, rows
from triaged.store.approval_rows import Settling
from triaged.store.db import write_transaction
from triaged.store.journal import Journal
from triaged.usecases.approval import Approvals
from triaged.usecases.mailer import Mailer

log = logging.getLogger("triaged.satisfaction")


class Satisfaction:
    def __init__(self, engine: Engine, mailer: Mailer, clock: Clock) -> None:
        self.engine = engine
        self.mailer = mailer
        self.clock = clock
        self.config = mailer.config.satisfaction
        self._last_run = -float("inf")

    def run(self, *, at_most_every: float = 0.0) -> int:
        """Ask and close what is due; return how many letters were queued.

        `at_most_every` (seconds) lets the daemon call this from a frequent job
        while scanning the resolved complaints only that often: the delays
        here are days, not seconds.
        """
        if time.monotonic() - self._last_run < at_most_every:
            return 0
        self._last_run = time.monotonic()
        now = self.clock.now()
        with write_transaction(self.engine) as conn:
            settling = approval_rows.resolved_complaints(conn)
        letters = 0
        for item in settling:
            with write_transaction(self.engine) as conn, Journal(conn) as journal:
                # Read again under a lock: another instance may have asked meanwhile.
                fresh = approval_rows.settling_of(conn, item.complaint_id)
                if fresh is not None:
                    letters += self._one(journal, fresh, now)
        return letters

    def _one(self, journal: Journal, item: Settling, now: datetime) -> int:
        conn, calendar = journal.conn, self.mailer.calendar
        if self.config.check and not item.check_queued:
            if calendar.add(item.final_sent_at, self.config.check_after) <= now:
                self._ask(journal, item.complaint_id, now)
                return 1
            return 0
        quiet_since = item.check_sent_at if self.config.check else item.final_sent_at
        if quiet_since is not None and calendar.add(quiet_since, self.config.close_after) <= now:
            moved = rows.change_state(conn, item.complaint_id, ComplaintState.RESOLVED,
                                      ComplaintState.CLOSED, now=now, actor="system",
                                      detail={"why": f"no reply for {self.config.close_after}"})
            if moved is not None:
                journal.record(moved)
                found = rows.complaint_by_id(conn, item.complaint_id)
                reference = found.reference if found is not None else str(item.complaint_id)
                log.info("complaint %s closed after a quiet %s", reference,
                         self.config.close_after, extra=logs.fields(reference=reference))
        return 0

    def _ask(self, journal: Journal, complaint_id: int, now: datetime) -> None:
        conn = journal.conn
        complaint = approval_rows.complaint_facts(conn, complaint_id)
        if complaint is None or complaint.state is not ComplaintState.RESOLVED:
            return
        latest, chain = approval_rows.conversation(conn, complaint)
        facts = ClosingFacts(
            business_name=self.mailer.config.business.name,
            customer=Address(complaint.customer_email, complaint.customer_name),
            reference=complaint.reference, subject=complaint.subject,
            language=complaint.language, in_reply_to=latest,
            references=tuple(i for i in chain if i != latest))
        letter = satisfaction_letter(facts, self.mailer.renderer)
        self.mailer.queue(journal, letter, complaint_id=complaint.id,
                          mailbox=complaint.mailbox, now=now)
        log.info("%s: satisfaction check queued", complaint.reference,
                 extra=logs.fields(reference=complaint.reference))


def on_reply(
    journal: Journal, approvals: Approvals, complaint: ComplaintRef, mail: ParsedMail,
    row_id: int, now: datetime,
) -> None:
    """Someone wrote on a resolved or closed complaint: close it, reopen it, or neither.

    Only the complaint's customer (the same mailbox) is answering the check: a
    plain "yes" (in any of our languages) to a resolved complaint closes it;
    anything else reopens it (`in_progress`, back on the ladder) and staff are
    told, with what the customer wrote. Anyone else's mail changes nothing here.
    """
    if not same_mailbox(mail.sender.email, complaint.customer_email):
        return
    conn = journal.conn
    if complaint.state is ComplaintState.RESOLVED and says_settled(mail.text):
        journal.record(rows.set_state(conn, complaint, ComplaintState.CLOSED, now=now,
                                      actor="customer", message_row_id=row_id,
                                      detail={"why": "the customer says it is settled"}))
        return
    reopened = rows.set_state(conn, complaint, ComplaintState.IN_PROGRESS, now=now,
                              actor="customer", message_row_id=row_id,
                              detail={"why": "customer wrote again"})
    if reopened is None:
        return
    journal.record(reopened)
    # Back on the ladder: the next scan sees whether its date has passed.
    ladder_rows.set_nudge(conn, complaint.id, now, now)
    facts = approval_rows.complaint_facts(conn, complaint.id)
    if facts is not None and approvals.config.staff.notify:
        approvals.notify_reopened(journal, facts, new_text(mail.text) or mail.text,
                                  complaint.state, now)
