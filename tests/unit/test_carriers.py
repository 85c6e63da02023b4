"""Where tokens ride in our letters, and that replies from real clients still carry one."""

from __future__ import annotations

from datetime import UTC, datetime

from triaged.core.letters.compose import may_be_ours
from triaged.domain.records import Address, ParsedMail
from triaged.replies.carriers import (
    find_tokens,
    reply_address,
    subject_with_token,
    token_message_id,
    without_tokens,
)
from triaged.replies.tokens import make_token

OWN = frozenset({"support@acme.example"})
TOKEN = make_token("k", purpose="approve", complaint_id=7, version=2,
                   recipient="dana@acme.example",
                   expires_at=datetime(2026, 12, 20, tzinfo=UTC))
OTHER = make_token("k", purpose="approve", complaint_id=7, version=1,
                   recipient="dana@acme.example",
                   expires_at=datetime(2026, 12, 20, tzinfo=UTC))


def reply(
    subject: str = "", to: str = "support@acme.example", in_reply_to: str = "",
    references: tuple[str, ...] = (), headers: tuple[tuple[str, str], ...] = (),
) -> ParsedMail:
    return ParsedMail(message_id="<r@acme.example>", sender=Address("dana@acme.example"),
                      to=(Address(to),), subject=subject, date=None, text="APPROVE",
                      in_reply_to=(in_reply_to,) if in_reply_to else (), references=references,
                      headers=headers)


def test_our_letter_carries_the_token_in_reply_to_message_id_and_subject() -> None:
    assert reply_address("support@acme.example", TOKEN) == f"support+{TOKEN}@acme.example"
    assert reply_address("support+x@acme.example", TOKEN) == f"support+{TOKEN}@acme.example"
    message_id = token_message_id(TOKEN, "support@acme.example")
    assert may_be_ours(message_id)
    assert TOKEN in message_id
    assert subject_with_token("Approve [K7M-Q3X9]", TOKEN).endswith(f"[#{TOKEN}]")
    assert without_tokens(f"Re: Approve [K7M-Q3X9] [#{TOKEN}]") == "Re: Approve [K7M-Q3X9]"


def test_an_ordinary_reply_carries_it_in_every_place() -> None:
    mid = token_message_id(TOKEN, "support@acme.example")
    mail = reply(subject=f"Re: Approval needed [#{TOKEN}]",
                 to=reply_address("support@acme.example", TOKEN), in_reply_to=mid,
                 references=(mid,))
    assert find_tokens(mail, OWN) == [TOKEN]


def test_each_place_alone_is_enough() -> None:
    mid = token_message_id(TOKEN, "support@acme.example")
    assert find_tokens(reply(to=f"support+{TOKEN}@acme.example"), OWN) == [TOKEN]
    assert find_tokens(reply(in_reply_to=mid), OWN) == [TOKEN]
    assert find_tokens(reply(subject=f"AW: Freigabe [#{TOKEN.upper()}]"), OWN) == [TOKEN]
    assert find_tokens(reply(references=("<a@b>", mid)), OWN) == [TOKEN]
    delivered = reply(headers=(("Delivered-To", f"support+{TOKEN}@acme.example"),))
    assert find_tokens(delivered, OWN) == [TOKEN]


def test_the_address_replied_to_comes_before_older_tokens_in_references() -> None:
    old = token_message_id(OTHER, "support@acme.example")
    mail = reply(to=f"support+{TOKEN}@acme.example", references=(old,))
    assert find_tokens(mail, OWN) == [TOKEN, OTHER]


def test_a_plus_address_on_somebody_elses_mailbox_does_not_count() -> None:
    assert find_tokens(reply(to=f"support+{TOKEN}@evil.example"), OWN) == []


def test_a_customer_mail_has_no_token() -> None:
    assert find_tokens(reply(subject="Re: Cake [K7M-Q3X9]", in_reply_to="<x@gmail.com>"),
                       OWN) == []
