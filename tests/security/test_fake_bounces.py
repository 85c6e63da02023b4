"""Fake bounces silence nobody; genuine ones still stop a dead customer address.

The attack, by mail alone: anyone can write a `multipart/report` to the support
address naming `Final-Recipient: <manager or staff>` with `Status: 5.1.1`. A
report counts only when it cites a letter we sent: it came back to that
letter's own return address, or it returns our letter's Message-ID for the very
address that letter went to. And a failure of one of the business's own
addresses never stops its mail: `triaged health` fails and the others are told.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.mailstack import MailStack
from tests.security.bounce_mail import (
    Shop,
    forged_approval,
    reply_to,
    report,
    subject_of,
)
from tests.support.fixture_types import NewAddress
from tests.support.mail import parsed

UNREACHABLE = "is not being delivered"
NOT_OURS = "cites no letter of ours"
# The relay in front of the test Dovecot refuses the null sender `<>`.
DAEMON = "MAILER-DAEMON@mx.example.test"


@pytest.fixture
def shop(mailstack: MailStack, support_address: str, new_address: NewAddress,
         tmp_path: Path) -> Iterator[Shop]:
    made = Shop.open(mailstack, support_address, tmp_path,
                     *(new_address(p) for p in ("team", "dana", "erin", "boss")))
    yield made
    made.t.close()


def test_fake_bounces_for_a_manager_and_staff_change_nothing_and_their_mail_keeps_coming(
    shop: Shop, new_address: NewAddress
) -> None:
    attacker = new_address("mallory")
    # The attacker draws a letter to staff (a complaint's notice) and to the
    # manager (a forged APPROVE is refused to the manager's address).
    complaint = shop.complain(attacker)
    shop.send(shop.dana, shop.t.support, forged_approval(shop.dana, shop.t.support,
                                                         complaint.reference))
    [refusal] = [x for x in shop.letters_to(shop.dana) if x.kind == "refusal"]
    [notice] = shop.letters_to(shop.staff)
    assert (refusal.state, notice.state) == ("sent", "sent")

    for victim in (shop.dana, shop.staff):
        shop.send(attacker, shop.t.support,
                  report(sender=attacker, to=shop.t.support, failed=victim))

    fakes = shop.not_complaints()[-2:]
    assert all(NOT_OURS in row.reason for row in fakes), [row.reason for row in fakes]
    assert [x.state for x in shop.letters_to(shop.dana)] == ["sent"]
    assert [x.state for x in shop.letters_to(shop.staff)] == ["sent"]
    assert shop.suppressed() == []
    assert shop.health().problems == []
    assert shop.suppression_list() == []

    # Staff still hear of a new complaint, and the manager still gets the
    # approval request once staff write the resolution.
    customer = new_address("maria")
    second = shop.complain(customer, subject="Bread was stale")
    [new_notice] = [m for m in shop.inbox(shop.staff, 2) if second.reference in subject_of(m)]
    resolution = reply_to(new_notice, shop.staff, "We refund the bread, 5 euros.")
    shop.send(shop.staff, str(parsed(resolution)["To"]), resolution)
    [request] = [m for m in shop.with_subject(shop.dana, second.reference)
                 if subject_of(m).startswith("Approval needed")]
    assert "5 euros" in str(parsed(request).get_body(preferencelist=("plain",)))
    assert {x.state for x in shop.letters_to(shop.dana) + shop.letters_to(shop.staff)} == {
        "sent"}
    assert shop.with_subject(shop.erin, UNREACHABLE) == []


@pytest.mark.parametrize("cites", ["nothing", "the customer's letter for someone else",
                                   "a forged return address"])
def test_a_fake_bounce_for_a_customer_leaves_their_letter_and_next_reply_alone(
    shop: Shop, new_address: NewAddress, cites: str
) -> None:
    customer, attacker = new_address("maria"), new_address("mallory")
    shop.complain(customer)
    [holding] = shop.letters_to(customer)
    mine = shop.complain(attacker, subject="My own complaint")
    [attackers_letter] = shop.letters_to(attacker)
    to, returned_id, failed = shop.t.support, "", customer
    if cites == "the customer's letter for someone else":
        # The attacker knows their own letter's Message-ID; it proves nothing about Maria.
        returned_id = attackers_letter.message_id
    elif cites == "a forged return address":
        local, _, domain = shop.t.support.partition("@")
        to = f"{local}+b-{holding.id}-abcdefghijkl@{domain}"
    shop.send(attacker, to, report(sender=attacker, to=to, failed=failed,
                                   returned_id=returned_id))

    [fake] = shop.not_complaints()[-1:]
    assert NOT_OURS in fake.reason
    assert [x.state for x in shop.letters_to(customer)] == ["sent"]
    assert [x.state for x in shop.letters_to(attacker)] == ["sent"]
    assert shop.suppressed() == []
    assert mine.reference

    shop.complain(customer, subject="Another order", body="The cookies were burnt.")
    assert [x.state for x in shop.letters_to(customer)] == ["sent", "sent"]
    assert len(shop.inbox(customer, 2)) == 2, "the next complaint gets its holding reply"


@pytest.mark.parametrize("returned_headers", [True, False])
def test_a_genuine_bounce_to_the_letters_return_address_stops_the_customer_until_lifted(
    shop: Shop, new_address: NewAddress, returned_headers: bool
) -> None:
    customer = new_address("gone")
    complaint = shop.complain(customer)
    [holding] = shop.letters_to(customer)
    return_address = shop.return_address(holding)
    local, _, domain = shop.t.support.partition("@")
    assert return_address.startswith(f"{local}+b-")
    assert return_address.endswith(f"@{domain}")

    shop.send(DAEMON, return_address,
              report(sender=DAEMON, to=return_address,
                     failed=customer, returned_id=holding.message_id,
                     returned_headers=returned_headers))

    [failed] = shop.letters_to(customer)
    assert failed.state == "failed"
    assert "5.1.1" in failed.last_error
    [bounce] = shop.not_complaints()[-1:]
    assert bounce.complaint_id == complaint.id
    assert len(shop.with_subject(shop.staff, "never reached")) == 1
    [listed] = shop.suppression_list()
    assert (listed["address"], listed["kind"], listed["open"]) == (customer, "suppressed", True)
    assert "5.1.1" in listed["reason"]

    shop.complain(customer, subject="Hello?")
    assert len(shop.letters_to(customer)) == 1, "nothing more to a hard-bounced address"

    lifted = shop.cli("suppression", "lift", customer.upper())
    assert lifted.returncode == 0, lifted.stderr
    assert customer in lifted.stdout
    assert shop.suppression_list() == []
    again = shop.cli("suppression", "lift", customer)
    assert again.returncode == 1
    assert "not suppressed" in again.stderr

    shop.complain(customer, subject="Third try")
    assert [x.state for x in shop.letters_to(customer)] == ["failed", "sent"]


def test_a_genuine_bounce_of_a_staff_letter_alerts_instead_of_silencing_and_cannot_loop(
    shop: Shop, new_address: NewAddress
) -> None:
    shop.complain(new_address("maria"))
    assert [x.kind for x in shop.letters_to(shop.staff)] == ["new_complaint"]

    def bounce(letter_to: str, index: int = -1) -> None:
        letter = shop.letters_to(letter_to)[index]
        back = shop.return_address(letter)
        shop.send(DAEMON, back, report(sender=DAEMON, to=back,
                                   failed=letter_to, returned_id=letter.message_id))

    bounce(shop.staff)

    assert [x.state for x in shop.letters_to(shop.staff)] == ["failed"]
    assert shop.suppressed()[0].stops_mail is False
    [problem] = shop.health().problems
    assert shop.staff in problem
    assert "5.1.1" in problem
    for owner in (shop.dana, shop.erin, shop.boss):
        [told] = shop.with_subject(owner, UNREACHABLE)
        assert shop.staff in subject_of(told)
    assert shop.with_subject(shop.staff, UNREACHABLE) == []
    [listed] = shop.suppression_list()
    assert (listed["address"], listed["kind"]) == (shop.staff, "alert")

    # The notice to Dana bounces too: Erin and the boss hear of it; Staff (whose
    # own mail fails) and Dana do not; the same report again changes nothing.
    bounce(shop.dana)
    for owner, count in ((shop.erin, 2), (shop.boss, 2), (shop.dana, 1), (shop.staff, 0)):
        assert len(shop.with_subject(owner, UNREACHABLE)) == count, owner
    letters = shop.letter_count()
    bounce(shop.dana)
    assert shop.letter_count() == letters, "no notice about a known failure"
    assert len(shop.health().problems) == 2

    # Staff's mail is never stopped: the next notice is sent, which clears its alert.
    shop.t.clock.advance(timedelta(minutes=5))
    shop.complain(new_address("ion"), subject="Second order")
    assert [x.state for x in shop.letters_to(shop.staff)] == ["failed", "sent"]
    [remaining] = shop.health().problems
    assert shop.dana in remaining
