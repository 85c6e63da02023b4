"""Managers act on an escalation by reply, on the real mail stack: ACK and EXTEND.

The replies travel like any mail (SMTP in, IMAP read) and are authenticated by
the shared token machinery; these tests hold what the escalation purpose does
with them: ACK holds the ladder one interval, EXTEND moves the promised date
and writes to the customer in their language, anything else is refused with
a short reply to the manager and changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from pathlib import Path

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.escalation import FAST_LADDER, ROUND_THE_CLOCK, people
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.mail import body_text, complaint_mail, parsed, smtp_send
from triaged.core.letters.customer import promised_words
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event

GERMAN = ("Guten Tag, meine Bestellung ist leider immer noch nicht angekommen, obwohl "
          "sie schon letzte Woche geliefert werden sollte. Bitte kümmern Sie sich darum.")


class Office:
    def __init__(self, make_triaged: Callable[..., Triaged], new_address: NewAddress,
                 stack: MailStack, tmp_path: Path) -> None:
        self.stack = stack
        self.team, self.dana, self.ana = (new_address("team"), new_address("dana"),
                                          new_address("ana"))
        key = tmp_path / "approval.key"
        key.write_text("escalation test secret\n")
        self.t = make_triaged(week=ROUND_THE_CLOCK, sla=FAST_LADDER,
                              tail=people(self.team, self.dana, self.ana)
                              + f'\n[approval]\nsecret_file = "{key}"\n')
        self.t.cycle()  # first contact
        self.new_address = new_address

    def complaint(self, subject: str = "Late order", body: str = "My order never came.",
                  customer: str = "") -> str:
        customer = customer or self.new_address("cust")
        smtp_send(self.stack, customer, self.t.support,
                  complaint_mail(customer, self.t.support, subject, body, name="Kunde"))
        [reference] = self.t.cycle().tally.references
        return reference

    def row(self, reference: str) -> Complaint:
        with transaction(self.t.app.engine) as session:
            return session.exec(select(Complaint).where(Complaint.reference == reference)).one()

    def events(self, reference: str, kind: str) -> list[dict[str, object]]:
        found = self.row(reference)
        with transaction(self.t.app.engine) as session:
            return [json.loads(e.detail) for e in session.exec(
                select(Event).where(Event.complaint_id == found.id, Event.kind == kind))]

    def reply(self, manager: str, letter: EmailMessage, body: str) -> None:
        """Reply to `letter` as a mail client does: to its Reply-To, threaded, quoting it."""
        msg = EmailMessage()
        msg["From"] = manager
        msg["To"] = str(letter["Reply-To"])
        msg["Subject"] = f"Re: {letter['Subject']}"
        msg["Message-ID"] = make_msgid(domain="example.test")
        msg["In-Reply-To"] = str(letter["Message-ID"])
        msg["References"] = str(letter["Message-ID"])
        quoted = "\n".join(f"> {line}" for line in body_text(letter).splitlines())
        msg.set_content(f"{body}\n\nOn Monday, triaged wrote:\n{quoted}\n")
        # CRLF line ends: smtplib sends bytes as they are, and a quoted letter is long.
        smtp_send(self.stack, manager, msg["To"], msg.as_bytes(policy=SMTP))
        self.t.cycle()

    def write_to(self, manager: str, address: str, body: str) -> None:
        """A new message to `address` (a tapped mailto: link), not a threaded reply."""
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = manager, address, "ACK"
        msg["Message-ID"] = make_msgid(domain="example.test")
        msg.set_content(body)
        smtp_send(self.stack, manager, address, msg.as_bytes())
        self.t.cycle()

    def letters(self, address: str) -> list[EmailMessage]:
        return [parsed(m) for m in self.stack.messages(address)]


def make_office(make_triaged: Callable[..., Triaged], new_address: NewAddress,
                mailstack: MailStack, tmp_path: Path) -> Office:
    return Office(make_triaged, new_address, mailstack, tmp_path)


def test_ack_holds_the_ladder_at_its_level_for_one_interval(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    tmp_path: Path,
) -> None:
    o = make_office(make_triaged, new_address, mailstack, tmp_path)
    reference = o.complaint()
    o.t.clock.advance(timedelta(minutes=10))
    o.t.cycle()
    [escalation] = o.letters(o.dana)
    assert "+escalation-" in str(escalation["Reply-To"])
    assert "ACK" in body_text(escalation)

    o.t.clock.advance(timedelta(minutes=1))
    o.reply(o.dana, escalation, "ACK")

    [accepted] = o.events(reference, "reply_accepted")
    assert accepted["command"] == "ACK"
    assert len(o.events(reference, "escalation_acknowledged")) == 1
    o.t.clock.advance(timedelta(minutes=2))  # level 2 was due now, 3 minutes after level 1
    o.t.cycle()
    assert o.letters(o.ana) == []
    o.t.clock.advance(timedelta(minutes=1))  # one interval after the ACK
    o.t.cycle()
    [second] = o.letters(o.ana)
    assert reference in str(second["Subject"])
    # An acknowledgement is single use: the same letter's token cannot hold it again.
    o.reply(o.dana, escalation, "ACK")
    [refusal] = o.letters(o.dana)[1:]
    assert "already answered" in body_text(refusal)


def test_extend_moves_the_date_and_writes_to_the_customer_in_their_language(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    tmp_path: Path,
) -> None:
    o = make_office(make_triaged, new_address, mailstack, tmp_path)
    customer = new_address("kunde")
    reference = o.complaint("Bestellung nicht angekommen", GERMAN, customer)
    old_due = o.row(reference).due_at
    o.t.clock.advance(timedelta(minutes=11))
    o.t.cycle()
    [escalation] = o.letters(o.dana)

    o.reply(o.dana, escalation, "EXTEND 2 hours")

    complaint = o.row(reference)
    # The date had passed, so the two hours count from now.
    assert complaint.due_at == o.t.clock.now() + timedelta(hours=2)
    [moved] = o.events(reference, "date_extended")
    assert moved["old_due_at"] == old_due.isoformat()
    assert moved["new_due_at"] == complaint.due_at.isoformat()
    assert moved["by"] == "2 hours"
    holding, extension = o.letters(customer)
    assert extension["Content-Language"] == "de"
    # Threaded into the customer's conversation: after our holding reply, to their mail.
    assert extension["In-Reply-To"] == holding["Message-ID"]
    assert str(holding["In-Reply-To"]) in str(extension["References"])
    assert reference in str(extension["Subject"])
    text = " ".join(body_text(extension).split())
    new_date, new_time = promised_words(complaint.due_at, "Europe/Bucharest", "de")
    assert f"spätestens bis {new_date}, {new_time}" in text
    assert new_time.endswith("Uhr (Ortszeit Rumänien)"), "rounded to the hour, zone named"
    assert "tut uns aufrichtig leid" in text
    # The ladder starts over from the new date: nobody else is told before it.
    o.t.clock.advance(timedelta(minutes=30))
    o.t.cycle()
    assert o.letters(o.ana) == []
    assert len(o.letters(o.dana)) == 1
    # ... and staff are reminded before the new date comes.
    o.t.clock.set(complaint.due_at - timedelta(minutes=2))
    o.t.cycle()
    assert any(reference in body_text(m) for m in o.letters(o.team))


def test_a_command_that_cannot_be_carried_out_is_refused_with_the_reason(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    tmp_path: Path,
) -> None:
    o = make_office(make_triaged, new_address, mailstack, tmp_path)
    customer = new_address("cust")
    reference = o.complaint(customer=customer)
    due = o.row(reference).due_at
    o.t.clock.advance(timedelta(minutes=10))
    o.t.cycle()
    [escalation] = o.letters(o.dana)

    o.reply(o.dana, escalation, "EXTEND soon")

    [refusal] = o.letters(o.dana)[1:]
    assert "did NOT act on it" in body_text(refusal)
    assert "expected a duration" in body_text(refusal)
    assert o.row(reference).due_at == due  # nothing changed
    assert len(o.letters(customer)) == 1  # the holding reply only
    [refused] = o.events(reference, "reply_refused")
    assert "expected a duration" in str(refused["reason"])
    # A refusal does not use up the token: the manager can answer properly.
    o.reply(o.dana, escalation, "Thanks, I will look at it")
    assert "no command found" in body_text(o.letters(o.dana)[2])
    o.reply(o.dana, escalation, "extend 1 business day")
    assert o.row(reference).due_at > due


def test_in_a_digest_each_complaint_has_its_own_address_to_act_on(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    tmp_path: Path,
) -> None:
    o = make_office(make_triaged, new_address, mailstack, tmp_path)
    first, second = o.complaint("First"), o.complaint("Second")
    o.t.clock.advance(timedelta(minutes=10))
    o.t.cycle()
    [digest] = o.letters(o.dana)
    text = body_text(digest)
    # Each numbered entry names its complaint, then the address to act on it.
    by_reference = dict(re.findall(r"^\d+\. (\S+) .*?writing to (\S+@\S+) with", text,
                                   re.MULTILINE | re.DOTALL))
    assert len(set(by_reference.values())) == 2
    assert set(by_reference) == {first, second}

    o.t.clock.advance(timedelta(minutes=1))
    o.write_to(o.dana, by_reference[second], "ACK")

    o.t.clock.advance(timedelta(minutes=2))  # three minutes after level 1
    o.t.cycle()
    [to_ana] = o.letters(o.ana)
    assert first in body_text(to_ana)
    assert second not in body_text(to_ana)  # held by the ACK
