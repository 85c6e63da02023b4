"""compose: hand-written MIME that every reader decodes back to what we meant."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest

from triaged.core.letters.compose import NotOneMailbox, compose, may_be_ours, new_message_id
from triaged.domain.records import Address, Letter, LetterKind

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SENDER = Address("support@bakery.example", "Bench Bakery")

LONG_LINE = "word " * 60 + "x" * 120
CASES = {
    "korean": ("김민준", "주문하신 케이크가 파손되어 죄송합니다 [K7M-Q3X9] " * 3,
               "안녕하세요 김민준 님,\n불편을 드려 죄송합니다.\n"),
    "japanese": ("山田 太郎", "Re: ケーキが潰れていました [K7M-Q3X9] 申し訳ございません",
                 "山田様\nご迷惑をおかけして申し訳ございません。\n"),
    "thai": ("สมชาย ใจดี", "เค้กเสียหาย [K7M-Q3X9] ขออภัยในความไม่สะดวก",
             "เรียน คุณสมชาย\nขออภัยในความไม่สะดวก\n"),
    "romanian": ("Ștefan Țăranu", "Re: Tortul a ajuns strivit — ne pare rău [K7M-Q3X9]",
                 "Bună ziua, domnule Țăranu,\nîmi pare rău pentru tortul strivit.\n"),
    "long lines": ("O'Brien, Mary-Jane (Sales)", "Re: " + "very long subject " * 12,
                   LONG_LINE + "\n" + "=" * 100 + "\n. a dot line\nFrom the start \n"),
    "no html": ("", "Plain", "only text\r\nwith CRLF and trailing space   \n"),
}


def _letter(name: str, subject: str, text: str, *, html: bool = True) -> Letter:
    return Letter(
        kind=LetterKind.HOLDING,
        to=Address("customer@example.test", name),
        subject=subject,
        text=text,
        html=f"<p>{text}</p>" if html else "",
        language="ko",
        in_reply_to="<a@example.test>",
        references=tuple(f"<ref{n}-{'x' * 30}@example.test>" for n in range(30)),
    )


def _parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize("case", sorted(CASES))
def test_headers_and_bodies_decode_back_exactly(case: str) -> None:
    name, subject, text = CASES[case]
    html = case != "no html"
    letter = _letter(name, subject, text, html=html)
    message_id = new_message_id(SENDER)
    raw = compose(letter, SENDER, now=NOW, message_id=message_id)
    msg = _parse(raw)

    assert str(msg["Subject"]) == " ".join(subject.split())
    assert msg["To"].addresses[0].display_name == " ".join(name.split())
    assert msg["To"].addresses[0].addr_spec == "customer@example.test"
    assert msg["From"].addresses[0].display_name == "Bench Bakery"
    assert msg["Message-ID"] == message_id
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Content-Language"] == "ko"
    assert msg["Date"].datetime == NOW
    plain = msg.get_body(preferencelist=("plain",))
    assert plain is not None
    expected = text.replace("\r\n", "\n")
    # The wire form has CRLF line ends, and a parser hands them back as they came.
    assert plain.get_content().replace("\r\n", "\n") == expected
    if html:
        assert msg.get_content_type() == "multipart/alternative"
        rich = msg.get_body(preferencelist=("html",))
        assert rich is not None
        assert rich.get_content().replace("\r\n", "\n") == f"<p>{expected}</p>\n"
    assert not msg.defects
    assert all(not part.defects for part in msg.walk())


@pytest.mark.parametrize("case", sorted(CASES))
def test_wire_form_is_7bit_crlf_with_short_lines(case: str) -> None:
    raw = compose(_letter(*CASES[case]), SENDER, now=NOW, message_id="<x.triaged@b.example>")
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_long_reference_chains_keep_the_first_and_newest() -> None:
    msg = _parse(compose(_letter(*CASES["korean"]), SENDER, now=NOW, message_id="<m@b>"))
    refs = str(msg["References"]).split()
    assert len(refs) == 20
    assert refs[0].startswith("<ref0-")
    assert refs[-1].startswith("<ref29-")


@pytest.mark.parametrize(
    ("message_id", "ours"),
    [
        (new_message_id(SENDER), True),
        ("<1700000000.123.456.TRIAGED@Bakery.Example>", True),
        ("<CAF=abc@mail.gmail.com>", False),
        ("", False),
    ],
)
def test_only_ids_shaped_like_ours_may_be_ours(message_id: str, ours: bool) -> None:
    assert may_be_ours(message_id) is ours


@pytest.mark.parametrize("recipient", ["a@ex.test,third@else.test", "a@ex.test, b@ex.test",
                                       "a@ex.test;b@ex.test", "Bob <b@ex.test>", "a@b@ex.test",
                                       "a@ex.test\r\nBcc: x@y.test", ""])
def test_a_recipient_that_is_not_one_mailbox_is_refused(recipient: str) -> None:
    bad = replace(_letter("", "Subject", "text"), to=Address(recipient))
    with pytest.raises(NotOneMailbox, match="not exactly one mailbox"):
        compose(bad, Address("support@acme.example"), now=datetime.now(UTC),
                message_id="<x@acme.example>")
