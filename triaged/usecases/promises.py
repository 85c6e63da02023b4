"""Acting on an escalation: ACK holds the ladder, EXTEND moves the promised date.

Both run inside the caller's transaction (a manager's reply is processed by
intake in the transaction of the message that carried it), write their event
on the complaint, and return what a reply to the manager should say. A command
that cannot be carried out raises `ApprovalRefused` with a reason fit to send
back to the manager, and changes nothing.

EXTEND never moves a date silently: the event keeps the old and the
new date, and the customer gets a letter, in their language, that apologises
and gives the new date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from triaged import logs
from triaged.core.ladder import ladder_of
from triaged.core.letters.customer import ExtensionFacts, extension_letter
from triaged.domain.durations import Duration, parse_duration
from triaged.domain.errors import ApprovalRefused
from triaged.domain.events import Event
from triaged.domain.records import Address, EventKind
from triaged.store import ladder_rows
from triaged.store.journal import Journal
from triaged.usecases.mailer import Mailer

log = logging.getLogger("triaged.promises")

# Longer than this is not an extension but a different promise: ask for it
# through staff, not by a one-line reply (also catches "EXTEND 300 days" typos).
LONGEST_EXTENSION_DAYS = 90


@dataclass(frozen=True)
class Extended:
    reference: str
    old_due_at: datetime
    new_due_at: datetime
    letter_message_id: str


def parse_extension(text: str) -> Duration:
    """The duration of "EXTEND 3 business days"; ApprovalRefused says what is wrong."""
    try:
        duration = parse_duration(text)
    except ValueError as error:
        raise ApprovalRefused(f"{error}. Write for example: EXTEND 3 business days") from None
    if duration.amount <= 0:
        raise ApprovalRefused("an extension must be longer than zero")
    return duration


class Promises:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.config = mailer.config
        self.calendar = mailer.calendar
        self.ladder = ladder_of(mailer.config, mailer.calendar)

    def acknowledge(self, conn: Connection, complaint_id: int, *, level: int, actor: str,
                    now: datetime, message_row_id: int | None = None) -> datetime:
        """Hold the ladder at `level` for one `escalate_every`; return when it moves on.

        Refused when the complaint is resolved, or has already climbed past
        `level` (the next level has been told: acknowledging the old letter
        cannot take that back).
        """
        found = ladder_rows.promise_row(conn, complaint_id)
        if found is None:
            raise ApprovalRefused("no such complaint")
        if found.state in ladder_rows.DONE_STATES:
            raise ApprovalRefused(f"{found.reference} is already {found.state}: nothing to hold")
        if found.escalation_level > level:
            raise ApprovalRefused(
                f"{found.reference} has already gone to level {found.escalation_level}; "
                f"an acknowledgement of the level-{level} letter cannot hold it")
        until = self.ladder.after_ack(now)
        ladder_rows.set_nudge(conn, complaint_id, max(until, found.nudge_at or until), now)
        with Journal(conn) as journal:
            journal.record(Event(complaint_id, EventKind.ESCALATION_ACKNOWLEDGED, now, actor,
                                 message_row_id, {"level": level, "held_until": until}))
        log.info("%s: escalation acknowledged by %s, held until %s", found.reference, actor,
                 until.isoformat(), extra=logs.fields(reference=found.reference))
        return until

    def extend(self, conn: Connection, complaint_id: int, duration: Duration, *, actor: str,
               now: datetime, message_row_id: int | None = None) -> Extended:
        """Move the promised date by `duration` and queue the customer's letter.

        The new date counts from the old one, or from now when the old one has
        passed (an extension must give the customer a date in the future).
        """
        found = ladder_rows.promise_row(conn, complaint_id)
        if found is None:
            raise ApprovalRefused("no such complaint")
        if found.state in ladder_rows.DONE_STATES:
            raise ApprovalRefused(
                f"{found.reference} is already {found.state}: its final letter has gone out, "
                "so there is no date left to move")
        old = found.due_at
        try:
            new = self.calendar.add(max(old, now), duration)
        except ValueError as error:
            raise ApprovalRefused(str(error)) from None
        if (new - max(old, now)).days > LONGEST_EXTENSION_DAYS:
            raise ApprovalRefused(
                f"{duration} is more than {LONGEST_EXTENSION_DAYS} days; agree a new date "
                "with the customer through staff instead")
        ladder_rows.move_promise(conn, complaint_id, due_at=new,
                                 nudge_at=self.ladder.first_nudge(received_at=now, due_at=new),
                                 now=now)
        with Journal(conn) as journal:
            message_id = self._queue_letter(journal, found, old, new, now)
            journal.record(Event(complaint_id, EventKind.DATE_EXTENDED, now, actor,
                                 message_row_id,
                                 {"old_due_at": old, "new_due_at": new, "by": str(duration),
                                  "letter": message_id}))
        log.info("%s: promised date moved from %s to %s by %s", found.reference,
                 old.isoformat(), new.isoformat(), actor,
                 extra=logs.fields(reference=found.reference))
        return Extended(found.reference, old, new, message_id)

    def _queue_letter(self, journal: Journal, found: ladder_rows.PromiseRow, old: datetime,
                      new: datetime, now: datetime) -> str:
        business = self.config.business
        customer = Address(found.customer_email, found.customer_name)
        thread = ladder_rows.thread_ids(journal.conn, found.id)
        letter = extension_letter(
            ExtensionFacts(
                business_name=business.name, customer=customer, reference=found.reference,
                subject=found.subject, old_due_at=old, new_due_at=new,
                timezone=business.timezone, language=found.language,
                in_reply_to=thread[-1] if thread else "", references=tuple(thread),
            ),
            self.mailer.renderer,
        )
        message_id = self.mailer.message_id_for(found.mailbox)
        self.mailer.queue(journal, letter, complaint_id=found.id, mailbox=found.mailbox,
                          now=now, message_id=message_id)
        return message_id
