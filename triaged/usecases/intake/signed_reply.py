"""Signed replies: a message carrying one of our reply tokens is an approval reply.

Writes the message row (outcome `approval_reply`, on the token's complaint
when it exists); the reply router then acts on it or refuses it, writing its
own `reply_accepted` / `reply_refused` events and any answer. Never a
complaint, never a holding reply; an automatic message decides nothing.
"""

from __future__ import annotations

from triaged.domain.records import Outcome, Verdict
from triaged.replies.routing import Recognised
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk


def handle(desk: Desk, msg: Arrival, verdict: Verdict, routed: Recognised) -> tuple[Outcome, str]:
    complaint = routed.complaint
    row_id = msg.store(Outcome.APPROVAL_REPLY, "reply-token",
                       complaint_id=complaint.id if complaint is not None else None)
    automatic = ""
    if verdict.outcome is not Outcome.COMPLAINT:
        automatic = verdict.reason or verdict.rule
    desk.replies.handle(msg.conn, msg.mail, routed, message_row_id=row_id,
                        mailbox=msg.raw.mailbox, now=msg.now, automatic=automatic)
    return Outcome.APPROVAL_REPLY, complaint.reference if complaint is not None else ""
