"""parse.bounces: which letter bounced, for whom, hard or soft, in the forms MTAs write.

tests/data/bounces/ holds one bounce per common form, returning a holding
reply whose Message-ID is LETTER-ID to CUSTOMER; the corpus adds real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_corpus import corpus_file
from triaged.core.parse.bounces import Bounce, read_bounce
from triaged.core.parse.message import parse_message

DATA = Path(__file__).resolve().parents[1] / "data" / "bounces"
LETTER = "<123.456.triaged@acme.example>"
CUSTOMER = "emily.carter@customer.example"


def bounce_of(data: bytes) -> Bounce | None:
    return read_bounce(data, parse_message(data))


def fixture(name: str) -> bytes:
    data = (DATA / name).read_bytes()
    return data.replace(b"LETTER-ID", LETTER.encode()).replace(b"CUSTOMER", CUSTOMER.encode())


@pytest.mark.parametrize(
    ("name", "form", "status"),
    [
        ("rfc3464-postfix.eml", "rfc3464", "5.1.1"),
        ("exim-text.eml", "text", "5.1.1"),
        ("qmail-text.eml", "text", "5.1.1"),
        ("exchange-ndr.eml", "text", "5.1.10"),
    ],
)
def test_a_hard_bounce_names_our_letter_and_the_failed_customer(
    name: str, form: str, status: str
) -> None:
    bounce = bounce_of(fixture(name))

    assert bounce is not None
    assert LETTER in bounce.returned_ids
    assert [r.email for r in bounce.recipients] == [CUSTOMER]
    assert bounce.recipients[0].status == status
    assert (bounce.form, bounce.hard, bounce.delayed) == (form, True, False)


def test_a_delay_warning_is_not_a_failure() -> None:
    bounce = bounce_of(fixture("gmail-delay.eml"))

    assert bounce is not None
    assert LETTER in bounce.returned_ids
    assert bounce.delayed
    assert not bounce.hard


@pytest.mark.parametrize(
    ("name", "recipient", "hard", "delayed", "returned"),
    [
        ("flanker__bounce__zed.eml",
         "asdfasdfasdfasdfasdfasdfewrqertrtyrthsfgdfgadfqeadvxzvz@gmail.com", True, False,
         "<20090708054735.GC7578@example.com>"),
        ("flanker__bounce__office365.eml", "noname@example.com", True, False,
         "<20171013111011.20866.254C2F3A4D7AA526@ninomail.com>"),
        ("flanker__bounce__gmail-invalid-address.eml", "awfawfawfawfawfaw@someserverhere.com",
         True, False, "<CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com>"),
        # Mailbox full (5.2.2) often clears: soft, the address is not suppressed.
        ("flanker__bounce__mailbox-full.eml", "user@aol.com", False, False,
         "<4E326A95.3010907@example.com>"),
        ("flanker__bounce__no-mx.eml", "user@example.com", False, True,
         "<19E44CA63F984902B7D654F8FF40F89D@bo>"),
        # Per-recipient fields base64-encoded inside the report part.
        ("mimekit__messages__bounce.eml", "netec.test@netecgc.com", True, False,
         "<44565655.JitbitHelpdesk.13439.691a0afc-a0a0-457c-8208-f20b7c4a4cb1@jitbit.com>"),
        # Action: failed without a Status field is a permanent failure (RFC 3464 §2.3.3).
        ("mimekit__messages__delivery-status.eml", "newsletter-request@imusic.com", True,
         False, "<31FC7EB4.41C6@netscape.com>"),
    ],
)
def test_real_bounces_from_the_corpus(
    name: str, recipient: str, hard: bool, delayed: bool, returned: str
) -> None:
    bounce = bounce_of(corpus_file(name).read_bytes())

    assert bounce is not None
    assert recipient in [r.email for r in bounce.recipients]
    assert (bounce.hard, bounce.delayed) == (hard, delayed)
    assert returned in bounce.returned_ids


def test_an_ordinary_mail_or_an_out_of_office_is_not_a_bounce() -> None:
    complaint = (b"From: Emily <emily@example.net>\r\nTo: support@acme.example\r\n"
                 b"Subject: Automatic reply: away\r\nMessage-ID: <a@b>\r\n\r\n"
                 b"I am away. Message-ID: <123.456.triaged@acme.example>\r\n")

    assert bounce_of(complaint) is None
