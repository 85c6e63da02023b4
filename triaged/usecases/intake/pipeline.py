"""The order of intake's steps, in one place.

Each message takes exactly one branch, the first that applies, and each branch
writes the message's one row:

1. unreadable (or refused by the reading budget) → `quarantine`
2. a copy of a stored message → `duplicate`
3. carries one of our reply tokens (and is not our own letter) → `signed_reply`
4. not a complaint (auto-reply, report, our own mail…) → `not_complaint`
5. continues a complaint its sender may write on → `follow_up`
6. anything else → `new_complaint`
"""

from __future__ import annotations

from triaged import logs
from triaged.core.classify import classify
from triaged.core.follow_ups import Speaker
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import Outcome
from triaged.usecases.intake import (
    duplicate,
    follow_up,
    new_complaint,
    not_complaint,
    quarantine,
    signed_reply,
    threads,
)
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk


def run(desk: Desk, msg: Arrival) -> tuple[Outcome, str]:
    """Take `msg` down its branch; its outcome and the reference of its complaint."""
    if msg.read.mail is None:
        return quarantine.park(msg, msg.read.refused)
    mail, conn = msg.mail, msg.conn
    logs.tag(message_id=mail.message_id)
    original = duplicate.original_of(msg)
    if original is not None:
        return duplicate.record(msg, original)
    # A forward from a trusted forwarder is judged and threaded as its original
    # customer wrote it; the row keeps what arrived. Anyone else's forward
    # stays theirs (`PassedOn`): a forward names whoever its sender chooses.
    view = msg.read.view
    verdict = classify(view, desk.classify_context(conn))
    # Every step below but a new complaint's may read an earlier complaint's log (an
    # approval request shows its history): the batch's waiting events go in first.
    if verdict.rule != "own-mail":
        # Our own letter coming back carries its own token: it is not a reply.
        routed = desk.replies.recognise(conn, mail)
        if routed is not None:
            msg.journal.write_earlier()
            return signed_reply.handle(desk, msg, verdict, routed)
    if verdict.outcome is not Outcome.COMPLAINT:
        msg.journal.write_earlier()
        return not_complaint.record(desk, msg, verdict)
    speaker = Speaker.of((mail.sender.email, view.sender.email),
                         staff=mailbox_key(mail.sender.email) in desk.staff_mailboxes)
    thread = threads.find(conn, view, speaker)
    if thread.own is not None:
        msg.journal.write_earlier()
        return follow_up.attach(desk, msg, thread.own, speaker)
    return new_complaint.open_one(desk, msg, verdict.rule, thread.other)
