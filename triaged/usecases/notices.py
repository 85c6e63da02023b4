"""Letters that tell staff what needs a person: a follow-up, a bounce, a forward
without its original sender, a reference quoted by someone else. A follow-up
gets no letter to the customer; staff are told.

Queued in the caller's transaction to every `staff.notify` address, in the
business's language (else English); never to the customer. With no
`staff.notify` configured the event log is what staff see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from triaged.core.letters.customer import local_date_words
from triaged.domain.records import Address, LetterKind
from triaged.usecases import attachments
from triaged.usecases.mailer import Mailer

TOPICS = ("follow_up", "forward_unattributed", "bounced", "linked", "unreachable")


def staff_notice(
    conn: Connection,
    mailer: Mailer,
    *,
    topic: str,
    complaint_id: int | None,
    reference: str,
    mailbox: str,
    now: datetime,
    about: str = "",
    **facts: Any,
) -> list[dict[str, Any]]:
    """Queue one notice per staff address; return their `letter_queued` events.

    `about` is the mailbox key of the sender whose mail the notice is about:
    past `[limits] staff_notices_per_hour` such notices the rest wait for one
    staff digest (their `letter_suppressed` events say so)."""
    if topic not in TOPICS:
        raise ValueError(f"unknown staff notice topic {topic!r}")
    config = mailer.config
    context: dict[str, Any] = {
        "business_name": config.business.name, "topic": topic, "reference": reference,
        "customer_email": "", "customer_name": "", "subject": "", "forwarder": "",
        "linked_reference": "", "letter_kind": "", "detail": "", "hard": False,
    }
    context.update(facts)
    if complaint_id is not None:
        language = mailer.internal_language(LetterKind.STAFF_NOTICE)

        def when(at: datetime) -> str:
            return ", ".join(local_date_words(at, config.business.timezone, language))

        context.update(attachments.history(conn, complaint_id, when))
    events: list[dict[str, Any]] = []
    for address in config.staff.notify:
        letter = mailer.internal_letter(LetterKind.STAFF_NOTICE, Address(address), context)
        queued = mailer.queue(conn, letter, complaint_id=complaint_id, mailbox=mailbox, now=now,
                              about=about)
        if queued is not None:
            events.append(queued)
    return events
