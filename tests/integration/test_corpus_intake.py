"""The optional corpus of real-world mail by others, delivered into a real Dovecot mailbox
and read by one cycle: every message is accounted for (complaint, follow-up,
non-complaint, duplicate, or quarantined with a reason), nothing crashes, no robot or
bounce is answered, and the mailbox is left empty.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from sqlmodel import select

from tests.mailstack import MailStack
from tests.shared_corpus import FILES, needs_corpus
from tests.support.installation import Triaged
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter, Quarantine

OUTCOMES = {"complaint", "follow_up", "not_complaint", "duplicate", "quarantined"}

pytestmark = needs_corpus


@pytest.fixture(scope="module")
def corpus() -> list[bytes]:
    return [path.read_bytes() for path in FILES]


def test_every_corpus_message_is_accounted_for_after_one_cycle(
    make_triaged: Callable[..., Triaged], mailstack: MailStack, corpus: list[bytes]
) -> None:
    t = make_triaged()
    t.cycle()  # first contact with the empty mailbox
    mailstack.append(t.support, "INBOX", corpus)

    report = t.cycle()

    assert report.ok, report.failures
    with transaction(t.app.engine) as session:
        rows = list(session.exec(select(MessageRow)))
        letters = list(session.exec(select(OutboxLetter)))
        complaints = {c.id: c for c in session.exec(select(Complaint))}
        parked = {q.message_row_id: q for q in session.exec(select(Quarantine))}
        suppressed = list(session.exec(select(Event).where(Event.kind == "letter_suppressed")))
    outcomes = Counter(row.outcome for row in rows)
    assert len(rows) == len(corpus), "one stored row for every message appended"
    assert set(outcomes) <= OUTCOMES, outcomes
    assert report.tally.counts == dict(outcomes)
    for row in rows:
        if row.outcome == "quarantined":
            assert row.reason.strip(), f"uid {row.uid}: quarantined without a reason"
            assert row.id in parked, f"uid {row.uid}: not listed by `quarantine list`"
            assert row.raw is not None, "its bytes are kept for replay"

    # Holding replies go to the customers of complaints, and never to a sender whose
    # mail was only ever a robot's, a bounce or a list's.
    answered = {letter.to_email.lower() for letter in letters}
    customers = {c.customer_email.lower() for c in complaints.values()}
    robots = {row.sender.lower() for row in rows if row.outcome == "not_complaint"}
    assert answered <= customers
    assert not answered & (robots - customers), sorted(answered & robots)
    assert all(letter.complaint_id in complaints for letter in letters)
    # One holding reply per new complaint, except where the rate limit held it back:
    # the corpus has senders with up to eight messages.
    assert len(letters) + len(suppressed) == outcomes["complaint"]
    assert max(Counter(letter.to_email.lower() for letter in letters).values()) <= 3

    assert mailstack.folder_uids(t.support, "INBOX").uids == []
    assert len(mailstack.folder_uids(t.support, "Triaged").uids) == len(corpus)
    again = t.cycle()
    assert again.tally.counts == {}, "nothing is read twice"
