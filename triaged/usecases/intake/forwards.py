"""The events that say how a forward was attributed, on a new complaint or a follow-up.

A trusted forwarder's forward is `forwarded` (re-attributed to its original
customer); anyone else's names an author we never write to (`passed_on`).
"""

from __future__ import annotations

import logging

from triaged.core.parse.forwarded import Attribution, PassedOn, Unattributed
from triaged.domain.events import Event
from triaged.domain.records import EventKind
from triaged.usecases.intake.arrival import Arrival

log = logging.getLogger("triaged.intake")


def record(msg: Arrival, complaint_id: int, row_id: int) -> None:
    """Record `forwarded` or `passed_on` for the message's forward, if it is one of them."""
    forward = msg.read.forward
    if isinstance(forward, Attribution):
        msg.journal.record(_forwarded(forward, complaint_id, row_id, msg))
    elif isinstance(forward, PassedOn):
        msg.journal.record(_passed_on(forward, complaint_id, row_id, msg))


def forwarder_of(msg: Arrival) -> str:
    """Who forwarded the mail to us as staff (attributed or not), else ""."""
    forward = msg.read.forward
    return forward.forwarder.email if isinstance(forward, (Attribution, Unattributed)) else ""


def _forwarded(forward: Attribution, complaint_id: int, row_id: int, msg: Arrival) -> Event:
    log.info("forward by %s attributed to %s (%s)", forward.forwarder.email,
             forward.customer.email, forward.source)
    return Event(complaint_id, EventKind.FORWARDED, msg.now, "system", row_id,
                 {"forwarder": forward.forwarder.email, "forwarder_name": forward.forwarder.name,
                  "source": forward.source, "customer": forward.customer.email,
                  "customer_name": forward.customer.name, "original_subject": forward.subject,
                  "original_date": forward.date_text,
                  "original_message_id": forward.message_id})


def _passed_on(forward: PassedOn, complaint_id: int, row_id: int, msg: Arrival) -> Event:
    sender = msg.mail.sender.email
    log.info("forward by %s (not a forwarder) names %s as its author: it stays %s's",
             sender, forward.author.email, sender)
    return Event(complaint_id, EventKind.PASSED_ON, msg.now, "system", row_id,
                 {"sender": sender, "author": forward.author.email,
                  "author_name": forward.author.name, "source": forward.source,
                  "original_subject": forward.subject, "original_date": forward.date_text})
