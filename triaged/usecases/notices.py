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

from triaged.core.letters.customer import local_date_words
from triaged.domain.records import Address, LetterKind
from triaged.store.journal import Journal
from triaged.usecases import attachments
from triaged.usecases.mailer import Mailer

TOPICS = ("follow_up", "forward_unattributed", "bounced", "linked", "unreachable")


def staff_notice(
    journal: Journal,
    mailer: Mailer,
    *,
    topic: str,
    complaint_id: int | None,
    reference: str,
    mailbox: str,
    now: datetime,
    about: str = "",
    **facts: Any,
) -> None:
    """Queue one notice per staff address on the journal's transaction.

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

        context.update(attachments.history(journal.conn, complaint_id, when))
    for address in config.staff.notify:
        letter = mailer.internal_letter(LetterKind.STAFF_NOTICE, Address(address), context)
        mailer.queue(journal, letter, complaint_id=complaint_id, mailbox=mailbox, now=now,
                     about=about)
