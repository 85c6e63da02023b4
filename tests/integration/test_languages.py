"""A complaint in the customer's language, in their client's usual charset, is answered in it.

End to end on the private Dovecot + SMTP relay: the complaint goes in over SMTP
as a legacy-charset message (EUC-KR, ISO-2022-JP, TIS-620, ISO-8859-2) or
UTF-8, triaged reads it over IMAP, and the holding reply that arrives in the
customer's mailbox is in that language: `Content-Language`, greeting with the
name in the customer's script, text, and the promised date in the locale's
format.
"""

from __future__ import annotations

import email
import smtplib
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.languages import CASES, Case, legacy_complaint
from triaged.core.references import find_in_text


def test_the_legacy_bytes_really_are_in_the_legacy_charset() -> None:
    data = legacy_complaint(CASES[0], "a@customer.example", "s@acme.example")
    assert "주문한".encode("euc_kr") in data
    assert "주문한".encode() not in data


def smtp_send(stack: MailStack, sender: str, to: str, data: bytes) -> None:
    with smtplib.SMTP(stack.host, stack.smtp_port, local_hostname="customer.example") as smtp:
        smtp.sendmail(sender, [to], data)


def reply_text(data: bytes) -> tuple[EmailMessage, str, str]:
    msg = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    return msg, str(plain.get_content()), str(html.get_content())


@pytest.mark.parametrize("case", CASES, ids=[f"{c.language}-{c.charset}" for c in CASES])
def test_a_complaint_is_answered_in_its_language(
    case: Case, triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address(case.language)
    triaged.cycle()  # first contact: the empty mailbox is noted
    smtp_send(mailstack, customer, triaged.support,
              legacy_complaint(case, customer, triaged.support))

    report = triaged.cycle()

    assert report.tally.counts == {"complaint": 1}
    [data] = mailstack.wait_for_messages(customer, "INBOX", 1)
    reply, text, html = reply_text(data)
    one_line = " ".join(text.split())
    [reference] = find_in_text(str(reply["Subject"]))
    assert str(reply["Subject"]) == f"Re: {case.subject} [{reference}]"
    assert reply["Content-Language"] == case.language
    assert reply["To"].addresses[0].display_name == case.name
    assert text.splitlines()[0] == case.greeting
    assert reference in text
    assert case.due in one_line
    assert case.phrase in one_line
    assert "Dear" not in text
    assert "thank you" not in text.lower()
    assert f'lang="{case.language}"' in html
    assert case.name in html
