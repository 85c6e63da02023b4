"""Nobody can make triaged flood a mailbox or its staff by sending it mail.

Each test sends hostile mail by SMTP into the support mailbox of the real stack,
runs full cycles (clock frozen, moved by hand), and counts what arrived where
the victim or staff would see it: letters actually delivered to their mailbox.
Every forged complaint is still registered: refusing to write is not losing mail.
"""

from __future__ import annotations

from datetime import timedelta

from tests.mailstack import MailStack
from tests.security.flooding_mail import (
    complaints,
    forge_complaints,
    inbox,
    send,
    soft_bounce,
    suppressed_why,
    tail,
)
from tests.support.fixture_types import MakeTriaged, NewAddress
from tests.support.mail import body_text as text_of
from tests.support.mail import complaint_mail
from triaged.store.db import transaction
from triaged.store.ops_queries import read_figures


def spellings(victim: str, count: int) -> list[str]:
    """`victim+0@` … and the upper-case form: every one reaches the victim's mailbox."""
    local, _, domain = victim.partition("@")
    return [f"{local}+{n}@{domain}" for n in range(count - 1)] + [victim.upper()]


def test_forged_plus_addresses_get_the_victim_at_most_the_daily_limit(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    victim = new_address("victim")
    t = make_triaged()
    t.cycle()
    forge_complaints(mailstack, t, spellings(victim, 8))
    t.cycle()
    forge_complaints(mailstack, t, spellings(victim, 8), subject="Again")
    t.cycle()

    letters = inbox(mailstack, victim)
    assert len(letters) == 3, "at most 3 automatic letters a day to one mailbox"
    assert all(m["Auto-Submitted"] == "auto-replied" for m in letters)
    assert len(complaints(t)) == 16, "every forged complaint is still registered"
    assert suppressed_why(t) == ["rate limit 3/24h"] * 13

    # A day later the mailbox may hear from us again, within the same limit.
    t.clock.advance(timedelta(hours=24, seconds=1))
    forge_complaints(mailstack, t, spellings(victim, 5), subject="Next day")
    t.cycle()
    assert len(inbox(mailstack, victim)) == 6


def test_soft_bounce_rounds_do_not_make_room_for_more_letters(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    victim = new_address("victim")
    t = make_triaged()
    t.cycle()
    for n in range(6):
        forge_complaints(mailstack, t, [victim], subject=f"Round {n}")
        t.cycle()
        soft_bounce(mailstack, t, victim)
        t.cycle()

    assert len(inbox(mailstack, victim)) == 3, "a bounced letter was still written"
    assert len(complaints(t)) == 6
    assert suppressed_why(t).count("rate limit 3/24h") == 3


def test_a_flood_from_one_sender_gets_staff_the_limit_of_notices_and_one_digest(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, attacker = new_address("team"), new_address("flood")
    t = make_triaged(tail=tail(team))
    t.cycle()
    forge_complaints(mailstack, t, spellings(attacker, 12))
    t.cycle()
    registered = complaints(t)
    assert len(registered) == 12, "every forged complaint is registered"

    told = inbox(mailstack, team)
    assert len(told) == 5, "at most 5 notices an hour about one sender"
    t.cycle()
    assert len(inbox(mailstack, team)) == 5, "no digest before the hour is over"

    t.clock.advance(timedelta(hours=1))
    t.cycle()
    after = inbox(mailstack, team)
    assert len(after) == 6
    digest = after[-1]
    assert "7 more complaints" in str(digest["Subject"])
    assert digest["Auto-Submitted"] == "auto-generated", "staff robots must not answer it"
    body = text_of(digest)
    notified = {c.reference for c in registered if any(c.reference in str(m["Subject"])
                                                       for m in told)}
    held = [c for c in registered if c.reference not in notified]
    assert len(held) == 7
    for complaint in held:
        assert f"[{complaint.reference}] {complaint.subject}" in body
    assert not any(c.reference in body for c in registered if c.reference in notified)

    t.cycle()
    assert len(inbox(mailstack, team)) == 6, "each held notice is in one digest only"


def test_follow_ups_from_one_sender_are_held_for_the_digest_too(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, sender = new_address("team"), new_address("chatty")
    t = make_triaged(tail=tail(team))
    t.cycle()
    forge_complaints(mailstack, t, [sender])
    t.cycle()
    [complaint] = complaints(t)
    for n in range(8):
        send(mailstack, sender, t.support,
             complaint_mail(sender, t.support, f"Re: [{complaint.reference}] still waiting",
                            f"Message {n}."))
    t.cycle()
    # The new-complaint notice and four follow-up notices; four follow-ups wait.
    assert len(inbox(mailstack, team)) == 5
    t.clock.advance(timedelta(hours=1))
    t.cycle()
    [*_, digest] = inbox(mailstack, team)
    assert f"[{complaint.reference}]" in text_of(digest)
    assert len(inbox(mailstack, team)) == 6


def test_the_hourly_cap_holds_across_addresses(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customers = [new_address("many") for _ in range(6)]
    t = make_triaged(tail=tail(auto_letters_per_hour=4))
    t.cycle()
    forge_complaints(mailstack, t, customers)
    t.cycle()

    answered = [c for c in customers if inbox(mailstack, c)]
    assert len(answered) == 4
    assert len(complaints(t)) == 6
    assert suppressed_why(t) == ["hourly cap 4/h on all automatic letters"] * 2
    with transaction(t.app.engine) as session:
        assert read_figures(session.connection(), t.clock.now()).hourly_capped == 2

    t.clock.advance(timedelta(hours=1, seconds=1))
    late = new_address("late")
    forge_complaints(mailstack, t, [late])
    t.cycle()
    assert len(inbox(mailstack, late)) == 1, "the next hour has room again"


def test_an_ordinary_customer_is_unaffected_by_a_flood_next_door(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, attacker, customer = new_address("team"), new_address("flood"), new_address("ana")
    t = make_triaged(tail=tail(team))
    t.cycle()
    forge_complaints(mailstack, t, spellings(attacker, 10))
    send(mailstack, customer, t.support,
         complaint_mail(customer, t.support, "Birthday cake crushed", "Please help."))
    t.cycle()
    [reply] = inbox(mailstack, customer)
    [mine] = [c for c in complaints(t) if c.customer_email == customer]
    assert mine.reference in str(reply["Subject"])
    send(mailstack, customer, t.support,
         complaint_mail(customer, t.support, f"Re: [{mine.reference}] Birthday cake crushed",
                        "It was for tomorrow."))
    t.cycle()

    about_her = [m for m in inbox(mailstack, team) if mine.reference in str(m["Subject"])]
    assert len(about_her) == 2, "her new complaint and her follow-up, each told at once"
    assert len(inbox(mailstack, customer)) == 1, "a follow-up gets no letter"
