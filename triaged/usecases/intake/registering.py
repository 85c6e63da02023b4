"""A new complaint's row and its holding reply: the writes every new complaint makes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from triaged import logs
from triaged.core import references
from triaged.core.categories import Sorting
from triaged.core.letters.customer import HoldingFacts, holding_letter
from triaged.domain.records import Address, Outcome
from triaged.store import rows
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk

log = logging.getLogger("triaged.intake")


@dataclass(frozen=True)
class NewComplaint:
    """A complaint registered in this transaction: what its holding reply needs, and
    the message row that opened it."""

    id: int
    reference: str
    customer: Address
    language: str
    received_at: datetime
    due_at: datetime
    row_id: int
    sorting: Sorting = field(default_factory=Sorting)


def register(desk: Desk, msg: Arrival, *, rule: str, forwarded_by: str,
             linked_reference: str) -> NewComplaint:
    """Insert the complaint under a fresh reference, due by its category's promise, and
    the message's row (outcome `complaint`, decided by `rule`) on it."""
    mail, sorting, now = msg.read.view, msg.read.sorting, msg.now
    # The category's or priority's own promise, else the [sla] default.
    due = desk.mailer.calendar.add(now, sorting.resolve_within or desk.config.sla.resolve_within)
    row = msg.row(Outcome.COMPLAINT, rule)
    while True:
        # A clash with a reference in use comes back as None: draw again.
        reference = references.new_reference()
        opened = rows.insert_complaint_with_message(msg.conn, rows.NewComplaintRow(
            reference=reference, mailbox=msg.raw.mailbox, customer_email=mail.sender.email,
            customer_name=mail.sender.name, subject=mail.subject,
            language=msg.read.language, received_at=now, due_at=due, now=now,
            category=sorting.category, priority=sorting.priority,
            nudge_at=desk.ladder.first_nudge(received_at=now, due_at=due),
            forwarded_by=forwarded_by, linked_reference=linked_reference,
        ), row)
        if opened is not None:
            break
    logs.tag(reference=reference)
    log.info("registered %s from %s, due %s", reference, mail.sender.email, due.isoformat())
    complaint_id, row_id = opened
    return NewComplaint(complaint_id, reference, Address(mail.sender.email, mail.sender.name),
                        msg.read.language, now, due, row_id, sorting)


def queue_holding(desk: Desk, msg: Arrival, complaint: NewComplaint, *, in_reply_to: str,
                  references: tuple[str, ...]) -> None:
    """Queue the holding reply; `Mailer.queue` records why not when the address bounced
    hard or a limit on automatic letters holds it back."""
    customer, now = complaint.customer, msg.now
    business = desk.config.business
    letter = holding_letter(
        HoldingFacts(
            business_name=business.name, customer=customer, reference=complaint.reference,
            subject=msg.read.view.subject, received_at=complaint.received_at,
            due_at=complaint.due_at, timezone=business.timezone, language=complaint.language,
            in_reply_to=in_reply_to, references=references,
            category=complaint.sorting.category, priority=complaint.sorting.priority,
        ),
        desk.mailer.renderer,
    )
    desk.mailer.queue(msg.journal, letter, complaint_id=complaint.id, mailbox=msg.raw.mailbox,
                      now=now, automatic=True)
