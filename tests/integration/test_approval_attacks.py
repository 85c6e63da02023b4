"""Nobody but a configured manager, replying to that very request, for that very version,
can make a letter go out. Each attack below must send the customer nothing, leave the
complaint unresolved, be recorded as a refused decision with its message, and be
answered to a manager only (never to the customer, never to the attacker).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

import pytest

from tests.support.approval import RESOLUTION, MakeShop, Shop, draft_by_email, reply_to
from tests.support.mail import parsed
from triaged.core.parse.message import parse_message
from triaged.replies.carriers import find_tokens


def request_for(shop: Shop, manager: str, version: int = 1) -> bytes:
    [request] = [m for m in shop.stack.messages(manager)
                 if str(parsed(m)["Subject"]).startswith("Approval needed")
                 and f"(version {version})" in str(parsed(m)["Subject"])]
    return request


def token_of(request: bytes, shop: Shop) -> str:
    [token] = find_tokens(parse_message(request), frozenset({shop.t.support}))
    return token


def with_token(data: bytes, old: str, new: str) -> bytes:
    return data.replace(old.encode(), new.encode())


def changed_char(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("a" if last != "a" else "b")


# Each attack: (shop, customer's complaint id) → the reason the refusal must give.


def customer_replies_to_a_copy(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    shop.send(shop.customer, reply_to(request, shop.customer, "APPROVE"))
    return "not allowed"


def forged_manager_from_without_token(shop: Shop) -> str:
    msg = EmailMessage()
    msg["From"] = shop.dana  # spoofed: the attacker has no request
    msg["To"] = shop.t.support
    reference = re.findall(r"\[([0-9A-Z]{3}-[0-9A-Z]{4})\]",
                           str(parsed(request_for(shop, shop.dana))["Subject"]))[0]
    msg["Subject"] = f"Re: Approval needed [{reference}]"
    msg["Message-ID"] = make_msgid(domain="evil.example")
    msg.set_content("APPROVE")
    shop.send(shop.dana, msg.as_bytes(policy=SMTP))
    return "no approval token"


def token_for_another_complaint(shop: Shop) -> str:
    other = shop.complain(subject="Second order", body="The bread was stale.")
    request = request_for(shop, shop.dana)
    token = token_of(request, shop)
    purpose, _cid, *rest = token.split("-")
    forged = "-".join([purpose, _b36(other.id or 0), *rest])  # the MAC stays complaint A's
    shop.send(shop.dana, with_token(reply_to(request, shop.dana, "APPROVE"), token, forged))
    return "does not verify"


def subject_names_another_complaint(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    other = shop.complain(subject="Second order", body="The bread was stale.")
    data = reply_to(request, shop.dana, "APPROVE")
    subject = str(parsed(request)["Subject"])
    first = re.findall(r"\[([0-9A-Z]{3}-[0-9A-Z]{4})\]", subject)[0]
    shop.send(shop.dana, data.replace(f"[{first}]".encode(), f"[{other.reference}]".encode()))
    return "subject names"


def stale_version(shop: Shop) -> str:
    old = request_for(shop, shop.dana, 1)
    notice = shop.latest(shop.staff, "New complaint")
    shop.send(shop.staff, reply_to(notice, shop.staff, "A better resolution: 60 euros."))
    request_for(shop, shop.dana, 2)
    shop.send(shop.dana, reply_to(old, shop.dana, "APPROVE"))
    return "version 2 is now current"


def replayed_approval(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE"))  # accepted: sent once
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE"))
    return "already answered"


def expired_token(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    shop.t.clock.advance(timedelta(days=15))
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE"))
    return "expired"


def outsider_forwards_and_replies(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    outsider = shop.stack.add_user("mallory@example.test")
    shop.send(outsider, reply_to(request, outsider, "APPROVE"))
    return "not allowed"


def another_managers_token(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    shop.send(shop.erin, reply_to(request, shop.erin, "APPROVE"))
    return f"sent to {shop.dana}"


def one_character_changed(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    token = token_of(request, shop)
    data = reply_to(request, shop.dana, "APPROVE")
    shop.send(shop.dana, with_token(data, token, changed_char(token)))
    return "does not verify"


def dkim_fail_when_required(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    domain = shop.dana.rpartition("@")[2]
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE",
                                  Authentication_Results=f"mx.test; dkim=fail header.d={domain}"))
    return "dkim=fail"


def missing_authentication_results_when_required(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE"))
    return "no Authentication-Results from mx.test"


def others_authserv_id_ignored(shop: Shop) -> str:
    request = request_for(shop, shop.dana)
    domain = shop.dana.rpartition("@")[2]
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE",
                                  Authentication_Results=f"mx.evil; dkim=pass header.d={domain}"))
    return "no Authentication-Results from mx.test"


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


REQUIRED = 'require_authentication_results = true\nauthserv_id = "mx.test"'
ATTACKS = [
    (customer_replies_to_a_copy, ""),
    (forged_manager_from_without_token, ""),
    (token_for_another_complaint, ""),
    (subject_names_another_complaint, ""),
    (stale_version, ""),
    (replayed_approval, ""),
    (expired_token, ""),
    (outsider_forwards_and_replies, ""),
    (another_managers_token, ""),
    (one_character_changed, ""),
    (dkim_fail_when_required, REQUIRED),
    (missing_authentication_results_when_required, REQUIRED),
    (others_authserv_id_ignored, REQUIRED),
]


@pytest.mark.parametrize(("attack", "approval"), ATTACKS, ids=[a.__name__ for a, _ in ATTACKS])
def test_the_attack_is_refused_recorded_and_answered_to_a_manager_only(
    make_shop: MakeShop, attack: Callable[[Shop], str], approval: str
) -> None:
    shop = make_shop(approval)
    complaint = shop.complain()
    domain = shop.staff.rpartition("@")[2]
    draft_by_email(shop, **({"Authentication_Results": f"mx.test; dmarc=pass header.from={domain}"}
                            if approval else {}))
    assert shop.state(complaint.id) == "awaiting_approval"
    finals_before = 1 if attack is replayed_approval else 0

    why = attack(shop)

    [refused] = shop.events("reply_refused")
    assert why in refused["reason"]
    assert refused["message_row_id"] is not None
    managers = {shop.dana, shop.erin, shop.boss}
    assert refused["answered_to"] in managers
    refusal_letters = [letter for letter in shop.letters_to(refused["answered_to"])
                       if letter.kind == "refusal"]
    assert len(refusal_letters) == 1
    answered = shop.inbox(refused["answered_to"], 1)
    assert any(why in parsed(m).get_body(preferencelist=("plain",))  # type: ignore[union-attr]
               .get_content() for m in answered)
    # The customer got the holding reply (and, for the replay, the one approved letter).
    kinds = [letter.kind for letter in shop.letters_to(shop.customer)]
    assert kinds.count("final") == finals_before
    assert "refusal" not in kinds
    if finals_before == 0:
        assert shop.state(complaint.id) == "awaiting_approval"
    assert shop.outcomes()[-1] == "approval_reply"
    assert "complaint" not in shop.outcomes()[2:] or attack in (
        token_for_another_complaint, subject_names_another_complaint)


def test_a_good_reply_still_counts_after_an_attack_was_refused(make_shop: MakeShop) -> None:
    shop = make_shop()
    complaint = shop.complain()
    draft_by_email(shop)
    one_character_changed(shop)
    request = request_for(shop, shop.dana)

    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE"))

    assert shop.state(complaint.id) == "resolved"
    assert [letter.kind for letter in shop.letters_to(shop.customer)] == ["holding", "final"]
    assert RESOLUTION[:40] in parsed(shop.inbox(shop.customer, 2)[1]).get_body(  # type: ignore[union-attr]
        preferencelist=("plain",)).get_content()
