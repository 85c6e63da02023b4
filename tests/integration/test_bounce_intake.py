"""A bounce of our holding reply, on the real stack: linked, failed, suppressed, staff told."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.intake import complaints_of, events_of, letters_to, notices, staff_tail
from tests.support.mail import complaint_mail, smtp_send
from triaged.store.db import transaction
from triaged.store.models import MessageRow, SuppressedAddress

BOUNCES = Path(__file__).resolve().parents[1] / "data" / "bounces"


def returned(name: str, letter_id: str, customer: str) -> bytes:
    data = (BOUNCES / name).read_bytes()
    return data.replace(b"LETTER-ID", letter_id.encode()).replace(b"CUSTOMER", customer.encode())


@pytest.mark.parametrize("form", ["rfc3464-postfix.eml", "exim-text.eml", "qmail-text.eml",
                                  "exchange-ndr.eml"])
def test_a_hard_bounce_fails_the_letter_stops_the_address_and_tells_staff(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    form: str,
) -> None:
    team, customer = new_address("team"), new_address("gone")
    t = make_triaged(tail=staff_tail(team))
    t.cycle()
    smtp_send(mailstack, customer, t.support,
              complaint_mail(customer, t.support, "Cake arrived crushed", "Refund please."))
    t.cycle()
    [holding] = letters_to(t, customer)
    assert holding.state == "sent"
    mailstack.append(t.support, "INBOX", returned(form, holding.message_id, customer))

    report = t.cycle()

    assert report.tally.counts == {"not_complaint": 1}, "a bounce is never a complaint"
    [complaint] = complaints_of(t)
    [failed] = letters_to(t, customer)
    assert failed.state == "failed"
    assert "5.1.1" in failed.last_error or "5.1.10" in failed.last_error
    bounced = [e for e in events_of(t, complaint.reference) if e.kind == "letter_bounced"]
    assert len(bounced) == 1
    assert '"bounce": "hard"' in bounced[0].detail
    with transaction(t.app.engine) as session:
        row = session.exec(select(MessageRow).where(MessageRow.outcome == "not_complaint")).one()
        assert row.complaint_id == complaint.id, "the bounce is attached to its complaint"
        assert [s.email for s in session.exec(select(SuppressedAddress))] == [customer]
    [notice] = notices(mailstack, team, "never reached", 1)
    assert complaint.reference in str(notice["Subject"])
    assert customer in str(notice["Subject"])
    assert {letter.to_email for letter in letters_to(t, customer)} == {customer}

    # The address is dead: the customer's next mail is registered, and nothing is sent.
    smtp_send(mailstack, customer, t.support,
              complaint_mail(customer, t.support, "Another one", "Hello?"))
    t.cycle()
    assert len(complaints_of(t)) == 2
    assert len(letters_to(t, customer)) == 1, "no holding reply to a hard-bounced address"
    assert len(mailstack.messages(customer)) == 1


def test_a_delay_warning_changes_nothing_but_is_recorded(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    team, customer = new_address("team"), new_address("slow")
    t = make_triaged(tail=staff_tail(team))
    t.cycle()
    smtp_send(mailstack, customer, t.support,
              complaint_mail(customer, t.support, "Slow", "Hello."))
    t.cycle()
    [holding] = letters_to(t, customer)
    mailstack.append(t.support, "INBOX", returned("gmail-delay.eml", holding.message_id,
                                                  customer))

    report = t.cycle()

    assert report.tally.counts == {"not_complaint": 1}
    [still] = letters_to(t, customer)
    assert still.state == "sent"
    [complaint] = complaints_of(t)
    assert any(e.kind == "letter_bounced" and '"bounce": "delayed"' in e.detail
               for e in events_of(t, complaint.reference))
    assert notices(mailstack, team, "never reached", 0) == []
