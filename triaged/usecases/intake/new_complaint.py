"""New complaints: a complaint that continues none of its sender's is registered.

Writes the complaint (`registering.register`) and the message row (outcome
`complaint`, on it), and records `registered` and `categorized`. A reference
of another customer's complaint it quotes links the two (`linked` on both,
staff told). A forward without its original sender stays the forwarder's:
`forward_unattributed`, no holding reply (`letter_suppressed`), staff told.
Otherwise the forward's attribution event, then, unless `answer` is off, the
holding reply to the customer and the new-complaint notice to staff.
"""

from __future__ import annotations

import logging

from triaged.core.parse.forwarded import Attribution, Unattributed
from triaged.domain.events import Event
from triaged.domain.records import ComplaintRef, ComplaintState, EventKind, Outcome
from triaged.store import rows
from triaged.store.approval_rows import ComplaintFacts
from triaged.usecases.intake import files, forwards, registering
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk
from triaged.usecases.intake.registering import NewComplaint
from triaged.usecases.notices import staff_notice

log = logging.getLogger("triaged.intake")


def open_one(desk: Desk, msg: Arrival, rule: str,
             quoted: ComplaintRef | None) -> tuple[Outcome, str]:
    view, now, forward = msg.read.view, msg.now, msg.read.forward
    complaint = registering.register(desk, msg, rule=rule,
                                     forwarded_by=forwards.forwarder_of(msg),
                                     linked_reference=quoted.reference if quoted else "")
    row_id = complaint.row_id
    files.keep(desk, msg, complaint.id, row_id)
    msg.journal.record(
        rows.registered_event(complaint.id, reference=complaint.reference,
                              due_at=complaint.due_at, customer_email=view.sender.email,
                              message_row_id=row_id, now=now),
        Event(complaint.id, EventKind.CATEGORIZED, now, "system", row_id,
              complaint.sorting.detail()),
    )
    if quoted is not None:
        _link(desk, msg, complaint, quoted, row_id)
    if isinstance(forward, Unattributed):
        _unattributed(desk, msg, complaint, forward, row_id)
        return Outcome.COMPLAINT, complaint.reference
    forwards.record(msg, complaint.id, row_id)
    if msg.answer:
        _answer(desk, msg, complaint)
    return Outcome.COMPLAINT, complaint.reference


def _answer(desk: Desk, msg: Arrival, complaint: NewComplaint) -> None:
    """The holding reply to the customer, and the new-complaint notice to staff."""
    mail, view, raw = msg.mail, msg.read.view, msg.raw
    # A forward's holding reply threads to the original, when we have its id:
    # the customer never saw the forwarder's message.
    attributed = msg.read.forward if isinstance(msg.read.forward, Attribution) else None
    registering.queue_holding(
        desk, msg, complaint,
        in_reply_to=attributed.message_id if attributed is not None else mail.message_id,
        references=attributed.references if attributed is not None else mail.references)
    if desk.config.staff.notify:
        facts = ComplaintFacts(complaint.id, complaint.reference, ComplaintState.RECEIVED,
                               raw.mailbox, complaint.customer.email, complaint.customer.name,
                               view.subject, complaint.language, complaint.received_at,
                               complaint.due_at)
        desk.approvals.notify_new(msg.journal, facts, view.text, msg.now, desk.about(mail, view))


def _link(desk: Desk, msg: Arrival, complaint: NewComplaint, quoted: ComplaintRef,
          row_id: int) -> None:
    """A reference quoted by someone other than its customer: linked both ways."""
    view, now = msg.read.view, msg.now
    log.info("%s quotes %s of another customer: new complaint %s, linked",
             view.sender.email, quoted.reference, complaint.reference)
    msg.journal.record(
        Event(complaint.id, EventKind.LINKED, now, "system", row_id,
              {"linked_to": quoted.reference, "sender": view.sender.email}),
        Event(quoted.id, EventKind.LINKED, now, "system", row_id,
              {"linked_from": complaint.reference, "sender": view.sender.email}),
    )
    staff_notice(msg.journal, desk.mailer, topic="linked", complaint_id=complaint.id,
                 reference=complaint.reference, mailbox=msg.raw.mailbox, now=now,
                 linked_reference=quoted.reference, subject=view.subject,
                 customer_email=view.sender.email, customer_name=view.sender.name,
                 about=desk.about(msg.mail, view))


def _unattributed(desk: Desk, msg: Arrival, complaint: NewComplaint, forward: Unattributed,
                  row_id: int) -> None:
    """No original sender: the complaint stays the forwarder's, staff are told,
    and no holding reply goes to the forwarder."""
    now = msg.now
    log.warning("forward by %s without an original sender: %s stays with the sender",
                forward.forwarder.email, complaint.reference)
    msg.journal.record(
        Event(complaint.id, EventKind.FORWARD_UNATTRIBUTED, now, "system", row_id,
              {"forwarder": forward.forwarder.email, "why": forward.why}),
        Event(complaint.id, EventKind.LETTER_SUPPRESSED, now, "system",
              detail={"kind": "holding", "why": "forwarded mail without its sender"}),
    )
    staff_notice(msg.journal, desk.mailer, topic="forward_unattributed",
                 complaint_id=complaint.id, reference=complaint.reference,
                 mailbox=msg.raw.mailbox, now=now, forwarder=forward.forwarder.email,
                 subject=msg.read.view.subject, customer_email=forward.forwarder.email)
