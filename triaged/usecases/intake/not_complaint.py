"""Not a complaint (auto-replies, newsletters, our own mail, delivery reports…).

Writes the message row with the classifier's outcome and reason, never a
letter to its sender. A delivery report proven to be about one of our letters
is attached to that letter's complaint and applied (`usecases.bounced`: the
letter failed, the address suppressed or an alert opened, staff told), its
events on the message's journal.
"""

from __future__ import annotations

import logging

from triaged import logs
from triaged.core.parse.bounces import read_bounce
from triaged.domain.records import Outcome, Verdict
from triaged.store import rows
from triaged.usecases import bounced
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk

log = logging.getLogger("triaged.intake")

# Rules under which a message may be a delivery report worth reading for the
# letter it returns (`parse.bounces` decides whether it is one).
BOUNCE_RULES = frozenset({"delivery-report", "empty-return-path", "daemon-sender",
                          "auto-submitted", "autoreply-headers"})


def record(desk: Desk, msg: Arrival, verdict: Verdict) -> tuple[Outcome, str]:
    mail, conn = msg.mail, msg.conn
    log.info("not a complaint: %s from %s (%s)", mail.message_id, mail.sender.email,
             verdict.reason or verdict.rule)
    bounce = read_bounce(msg.raw.data, mail) if verdict.rule in BOUNCE_RULES else None
    letters = (bounced.letters_of(conn, bounce, mail, desk.config)
               if bounce is not None else [])
    reason = verdict.reason
    complaint_id = next((x.complaint_id for x in letters if x.complaint_id), None)
    if bounce is not None:
        # Why nothing happened comes first: the summary may be cut.
        ours = "" if letters else f"; {bounced.NOT_OURS}"
        reason = f"{reason}{ours}; bounce: {bounce.summary()}"[:1000]
    row_id = msg.store(verdict.outcome, verdict.rule, reason=reason, complaint_id=complaint_id)
    reference = ""
    if complaint_id is not None:
        found = rows.complaint_by_id(conn, complaint_id)
        reference = found.reference if found is not None else ""
        logs.tag(reference=reference)
    if bounce is not None and letters:
        bounced.record(msg.journal, desk.mailer, bounce, letters, message_row_id=row_id,
                       mailbox=msg.raw.mailbox, now=msg.now)
    return verdict.outcome, reference
