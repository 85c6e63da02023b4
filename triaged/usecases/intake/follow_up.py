"""Follow-ups: a message that continues a complaint its sender may write on.

Writes the message row (outcome `follow_up`, on that complaint) and records
`follow_up` (actor customer or staff); on a resolved or closed complaint
`satisfaction.on_reply` closes or reopens it; the forward's attribution event;
and, on an open complaint, a notice to staff unless staff wrote it. The
customer gets no letter.
"""

from __future__ import annotations

import logging

from triaged import logs
from triaged.core.follow_ups import Speaker
from triaged.domain.events import Event
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import ComplaintRef, ComplaintState, EventKind, Outcome
from triaged.usecases import satisfaction
from triaged.usecases.intake import files, forwards
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk
from triaged.usecases.notices import staff_notice

log = logging.getLogger("triaged.intake")

SETTLED = (ComplaintState.RESOLVED, ComplaintState.CLOSED)


def attach(desk: Desk, msg: Arrival, complaint: ComplaintRef,
           speaker: Speaker) -> tuple[Outcome, str]:
    mail, view = msg.mail, msg.read.view
    logs.tag(reference=complaint.reference)
    row_id = msg.store(Outcome.FOLLOW_UP, "thread", complaint_id=complaint.id)
    files.keep(desk, msg, complaint.id, row_id)
    customer = mailbox_key(complaint.customer_email) in speaker.mailboxes
    msg.journal.record(Event(complaint.id, EventKind.FOLLOW_UP, msg.now,
                             "customer" if customer else "staff", row_id))
    if complaint.state in SETTLED:
        satisfaction.on_reply(msg.journal, desk.approvals, complaint, view, row_id, msg.now)
    log.info("follow-up %s on %s", view.message_id, complaint.reference)
    forwards.record(msg, complaint.id, row_id)
    # On a settled complaint `satisfaction.on_reply` tells staff (or closes it); staff
    # writing on a complaint need no notice of their own words (and a notice answered
    # by a staff robot must not come back as another one).
    if complaint.state not in SETTLED and view.sender.email.lower() not in desk.staff:
        staff_notice(msg.journal, desk.mailer, topic="follow_up", complaint_id=complaint.id,
                     reference=complaint.reference, mailbox=msg.raw.mailbox, now=msg.now,
                     subject=view.subject, customer_email=view.sender.email,
                     customer_name=view.sender.name, about=desk.about(mail, view))
    return Outcome.FOLLOW_UP, complaint.reference
