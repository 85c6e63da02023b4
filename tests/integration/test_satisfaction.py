"""After the final letter: the satisfaction check, a reopening "no", a closing "yes",
and a quiet close; all from the daemon's cycle (`run --once`), the clock faked only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.approval import MakeShop, Shop, draft_by_email, reply_to
from tests.support.mail import body_text, parsed


@pytest.fixture
def resolved(make_shop: MakeShop) -> tuple[Shop, int]:
    shop = make_shop()
    complaint = shop.complain()
    draft_by_email(shop)
    request = shop.latest(shop.dana, "Approval needed")
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE"))
    assert shop.state(complaint.id) == "resolved"
    assert complaint.id is not None
    return shop, complaint.id


def test_the_check_goes_out_after_the_delay_threaded_and_silence_closes(
    resolved: tuple[Shop, int],
) -> None:
    shop, complaint_id = resolved
    final = parsed(shop.inbox(shop.customer, 2)[1])

    shop.t.clock.advance(timedelta(days=2))  # Wednesday: two business days only
    shop.t.cycle()
    assert len(shop.stack.messages(shop.customer)) == 2

    shop.t.clock.advance(timedelta(days=1))  # Thursday 10:00: three business days
    shop.t.cycle()
    check = parsed(shop.inbox(shop.customer, 3)[2])
    assert check["Content-Language"] == "de"
    assert check["In-Reply-To"] == str(parsed(shop.complaint_bytes)["Message-ID"])
    assert str(final["Message-ID"]) in str(check["References"])
    text = body_text(check)
    assert "wirklich erledigt" in text
    assert shop.state(complaint_id) == "resolved"
    shop.t.cycle()
    assert len(shop.stack.messages(shop.customer)) == 3  # asked once

    shop.t.clock.advance(timedelta(days=6))
    shop.t.cycle()
    assert shop.state(complaint_id) == "resolved"
    shop.t.clock.advance(timedelta(days=1))  # a quiet week after the check
    shop.t.cycle()
    assert shop.state(complaint_id) == "closed"
    [closed] = [e for e in shop.events("state_changed") if e.get("to") == "closed"]
    assert "no reply" in closed["why"]


def ask(shop: Shop) -> bytes:
    shop.t.clock.advance(timedelta(days=3))
    shop.t.cycle()
    return shop.inbox(shop.customer, 3)[2]


def test_a_reply_saying_it_is_not_settled_reopens_and_tells_staff(
    resolved: tuple[Shop, int],
) -> None:
    shop, complaint_id = resolved
    check = ask(shop)
    answer = "Nein, die neue Torte ist nie angekommen.\n\nMaria"

    shop.send(shop.customer, reply_to(check, shop.customer, answer))

    assert shop.state(complaint_id) == "in_progress"
    notice = parsed(shop.latest(shop.staff, "Reopened"))
    assert "Nein, die neue Torte ist nie angekommen." in body_text(notice)
    # One letter to staff about it, not a reopening notice and a follow-up notice too.
    subjects = [str(parsed(m)["Subject"]) for m in shop.stack.messages(shop.staff)]
    assert sum(s.startswith("Reopened") for s in subjects) == 1, subjects
    assert not [s for s in subjects if "wrote again" in s], subjects
    assert len(shop.stack.messages(shop.customer)) == 3  # no automatic answer to it
    # Staff can answer the notice with a new resolution: it goes for approval again.
    shop.send(shop.staff, reply_to(shop.latest(shop.staff, "Reopened"), shop.staff,
                                   "Wir liefern die Torte morgen persönlich."))
    assert shop.state(complaint_id) == "awaiting_approval"


def test_a_plain_yes_closes_at_once(resolved: tuple[Shop, int]) -> None:
    shop, complaint_id = resolved
    check = ask(shop)

    shop.send(shop.customer, reply_to(check, shop.customer, "Ja, danke!\n\nMaria"))

    assert shop.state(complaint_id) == "closed"
    assert not [m for m in shop.stack.messages(shop.staff)
                if "Reopened" in str(parsed(m)["Subject"])]


def test_a_draft_on_a_resolved_complaint_is_refused_until_it_reopens(
    resolved: tuple[Shop, int],
) -> None:
    shop, complaint_id = resolved
    notice = shop.latest(shop.staff, "New complaint")

    shop.send(shop.staff, reply_to(notice, shop.staff, "Another idea: a voucher."))

    assert shop.state(complaint_id) == "resolved"
    [refused] = shop.events("reply_refused")
    assert "is resolved: a draft is refused until the customer reopens it" in refused["reason"]
    assert refused["answered_to"] == shop.staff
