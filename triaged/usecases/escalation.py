"""The reminder and escalation run: what is due is told to the right people, in one
letter per person (a digest, never a storm).

`Escalator.run()` is one pass, in one transaction: read the complaints whose
`nudge_at` has come, decide each one's step on the ladder (`core.ladder`),
claim the step with a conditional update, then queue one reminder per staff
address and one digest per manager, and log each step on its complaint. A
complaint whose final letter is approved or sent (resolved, closed) is
dropped from the ladder the first time the scan meets it.

Outside working hours, unless `[sla] notify_outside_working_hours` is true,
the run does nothing: the nudges wait for the next opening, so no manager
is woken at midnight.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from triaged import logs
from triaged.config.records import ManagerConfig
from triaged.core.ladder import StepKind, ladder_of
from triaged.core.letters.staff import DigestFacts, DigestItem, escalation_letter, reminder_letter
from triaged.domain.clock import Clock
from triaged.domain.events import Event
from triaged.domain.records import Address, EventKind, Letter
from triaged.store import ladder_rows
from triaged.store.attachment_rows import Earlier, earlier_complaints
from triaged.store.db import transaction
from triaged.store.journal import Journal
from triaged.usecases import escalation_replies
from triaged.usecases.mailer import Mailer

log = logging.getLogger("triaged.escalation")

# Reminders and digests are about many mailboxes' mail: they come from the first.
_MAILBOX = ""


@dataclass
class EscalationReport:
    """What one run did: complaints reminded of and escalated, letters queued."""

    reminded: list[str] = field(default_factory=list)
    escalated: dict[str, int] = field(default_factory=dict)
    letters: int = 0
    waiting_for_opening: bool = False


@dataclass
class _Told:
    """Who hears about what in this run, gathered before any letter is written."""

    reminders: dict[str, list[DigestItem]] = field(default_factory=lambda: defaultdict(list))
    escalations: dict[str, list[DigestItem]] = field(default_factory=lambda: defaultdict(list))
    events: list[tuple[int, EventKind, dict[str, Any], list[str]]] = field(default_factory=list)


class Escalator:
    def __init__(self, engine: Engine, clock: Clock, mailer: Mailer) -> None:
        self.engine = engine
        self.config = mailer.config
        self.clock = clock
        self.renderer = mailer.renderer
        self.calendar = mailer.calendar
        self.ladder = ladder_of(self.config, self.calendar)
        self.mailer = mailer

    def managers_at(self, level: int) -> list[ManagerConfig]:
        return [m for m in self.config.managers if m.level == level]

    def run(self) -> EscalationReport:
        """One pass over what is due now; returns what it did."""
        now = self.clock.now()
        report = EscalationReport()
        if not self.config.sla.notify_outside_working_hours and not self.calendar.is_open(now):
            report.waiting_for_opening = True
            return report
        with transaction(self.engine) as session:
            conn = session.connection()
            told = self._steps(conn, now, report)
            report.letters = self._write(conn, told, now)
        if report.reminded or report.escalated:
            log.info("reminded of %d, escalated %d, %d letters queued", len(report.reminded),
                     len(report.escalated), report.letters)
        return report

    # -- deciding -----------------------------------------------------------------

    def _steps(self, conn: Connection, now: datetime, report: EscalationReport) -> _Told:
        told = _Told()
        due = ladder_rows.due_complaints(conn, now)
        # A reminder must follow the new-complaint notice, never come with it.
        unannounced = ladder_rows.notice_not_sent(conn, (c.id for c in due if not c.reminded))
        escalated: list[tuple[ladder_rows.DueComplaint, int, bool]] = []
        for complaint in due:
            if complaint.state in ladder_rows.DONE_STATES:
                # Approved or sent: the ladder stops here (and the scan forgets it).
                ladder_rows.advance(conn, complaint, next_nudge=None,
                                    level=complaint.escalation_level,
                                    reminded=complaint.reminded, now=now)
                continue
            step = self.ladder.step(now=now, due_at=complaint.due_at,
                                    level=complaint.escalation_level,
                                    reminded=complaint.reminded)
            if not ladder_rows.advance(conn, complaint, next_nudge=step.next_nudge,
                                       level=step.level, reminded=True, now=now):
                continue  # another instance took this step
            if step.kind is StepKind.REMIND and complaint.id in unannounced:
                log.info("%s: no reminder, staff have not been sent the new complaint yet",
                         complaint.reference, extra=logs.fields(reference=complaint.reference))
            elif step.kind is StepKind.REMIND:
                self._remind(conn, told, complaint)
                report.reminded.append(complaint.reference)
            elif step.kind is StepKind.ESCALATE:
                escalated.append((complaint, step.level, step.repeat))
                report.escalated[complaint.reference] = step.level
            else:
                log.warning("%s is overdue and no manager is configured to hear of it",
                            complaint.reference, extra=logs.fields(reference=complaint.reference))
        self._escalate(conn, told, escalated, now)
        return told

    def _remind(self, conn: Connection, told: _Told,
                complaint: ladder_rows.DueComplaint) -> None:
        """A reminder to every `staff.notify` address: the complaint nears its date."""
        item = self._item(complaint, level=complaint.escalation_level,
                          earlier=earlier_complaints(conn, complaint.id))
        recipients = list(self.config.staff.notify)
        for address in recipients:
            told.reminders[address].append(item)
        told.events.append((complaint.id, EventKind.REMINDED, {"due_at": complaint.due_at},
                            recipients))

    def _escalate(self, conn: Connection, told: _Told,
                  escalated: list[tuple[ladder_rows.DueComplaint, int, bool]],
                  now: datetime) -> None:
        """Overdue complaints to the managers of their level, with what is known so far."""
        known = ladder_rows.known_so_far(conn, (c.id for c, _, _ in escalated))
        for complaint, level, repeat in escalated:
            facts = known.get(complaint.id, ladder_rows.Known())
            item = self._item(complaint, level=level, repeat=repeat, known=facts,
                              earlier=earlier_complaints(conn, complaint.id))
            recipients = [m.email for m in self.managers_at(level)]
            for address in recipients:
                told.escalations[address].append(item)
            told.events.append((complaint.id, EventKind.ESCALATED,
                                {"level": level, "repeat": repeat, "due_at": complaint.due_at,
                                 "late_seconds": int((now - complaint.due_at).total_seconds())},
                                recipients))

    def _item(self, c: ladder_rows.DueComplaint, *, level: int, repeat: bool = False,
              known: ladder_rows.Known | None = None,
              earlier: tuple[int, list[Earlier]] = (0, [])) -> DigestItem:
        known = known or ladder_rows.Known()
        count, shown = earlier
        return DigestItem(
            reference=c.reference, customer=Address(c.customer_email, c.customer_name),
            subject=c.subject, received_at=c.received_at, due_at=c.due_at, state=c.state,
            category=c.category, priority=c.priority, level=level, repeat=repeat,
            first_text=known.first_text, follow_ups=known.follow_ups,
            letters_sent=known.letters_sent, complaint_id=c.id, earlier_count=count,
            earlier=tuple(f"{e.reference} ({e.state.replace('_', ' ')})" for e in shown),
        )

    # -- writing ------------------------------------------------------------------

    def _write(self, conn: Connection, told: _Told, now: datetime) -> int:
        message_ids: dict[tuple[str, str], str] = {}
        names = {m.email: m.name for m in self.config.managers}
        with Journal(conn) as journal:
            self._write_letters(journal, told, names, message_ids, now)
            for complaint_id, kind, detail, recipients in told.events:
                letter_kind = "reminder" if kind is EventKind.REMINDED else "escalation"
                letters = [{"to": a, "message_id": message_ids[(letter_kind, a)]}
                           for a in recipients]
                journal.record(Event(complaint_id, kind, now, "system",
                                     detail={**detail, "letters": letters}))
        return len(message_ids)

    def _write_letters(self, journal: Journal, told: _Told, names: dict[str, str],
                       message_ids: dict[tuple[str, str], str], now: datetime) -> None:
        """Queue the reminders and escalations, noting each letter's Message-ID."""
        for address, items in told.reminders.items():
            letter = reminder_letter(self._facts(Address(address), items, now), self.renderer)
            message_ids[("reminder", address)] = self._queue(journal, letter, now)
        for address, items in told.escalations.items():
            to = Address(address, names.get(address, ""))
            tokens = self._tokens(address, items, now)
            items = [replace(i, reply_to=self._reply_address(tokens.get(i.complaint_id, "")))
                     for i in items]
            letter = escalation_letter(self._facts(to, items, now), self.renderer)
            single = tokens.get(items[0].complaint_id, "") if len(items) == 1 else ""
            message_ids[("escalation", address)] = self._queue(
                journal, letter, now, token=single,
                complaint_id=items[0].complaint_id if single else None)

    def _facts(self, to: Address, items: list[DigestItem], now: datetime) -> DigestFacts:
        business = self.config.business
        return DigestFacts(business_name=business.name, to=to, timezone=business.timezone,
                           language=business.language, now=now, items=tuple(items))

    def _tokens(self, address: str, items: list[DigestItem], now: datetime) -> dict[int, str]:
        """One reply token per complaint for this manager; none without an approval secret."""
        if self.config.approval.secret is None:
            return {}
        return {i.complaint_id: self.mailer.make_token(escalation_replies.PURPOSE,
                                                       i.complaint_id, 0, address, now)
                for i in items}

    def _reply_address(self, token: str) -> str:
        return self.mailer.reply_address(token, _MAILBOX) if token else ""

    def _queue(self, journal: Journal, letter: Letter, now: datetime, *, token: str = "",
               complaint_id: int | None = None) -> str:
        """Queue one staff letter; its Message-ID. With a token (a digest of one
        complaint), the token rides in the headers so that a plain Reply counts.

        Not `automatic` in the rate limit's sense: the limit protects customers'
        addresses from loops, and a manager must hear of every overdue complaint.
        """
        if token and complaint_id is not None:
            message_id = self.mailer.token_message_id(token, _MAILBOX)
            self.mailer.queue_with_token(journal, letter, token, complaint_id=complaint_id,
                                         mailbox=_MAILBOX, now=now)
        else:
            message_id = self.mailer.message_id_for(_MAILBOX)
            self.mailer.queue(journal, letter, complaint_id=None, mailbox=_MAILBOX, now=now,
                              message_id=message_id)
        return message_id
