"""The system clock stepped forwards and backwards (NTP) around escalations.

The clock is the only thing faked. A minute-scale ladder (remind 2 minutes before
the date, level 1 at it, level 2 three minutes later) on a round-the-clock
calendar; what staff and managers receive is read from their real mailboxes.

A step forwards past several rungs sends one digest per person and climbs one
level per interval from then on (no storm of the missed letters at once); a step
backwards repeats nothing and skips nothing: every rung still comes once, when the
clock reaches it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.escalation import FAST_LADDER, ROUND_THE_CLOCK, people
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.mail import complaint_mail, parsed, smtp_send
from triaged.store.db import transaction
from triaged.store.models import Complaint


def ladder_mail(stack: MailStack, person: str) -> list[str]:
    """Subjects of what `person` got besides the notice of each new complaint."""
    return [str(parsed(m)["Subject"]) for m in stack.messages(person)
            if not str(parsed(m)["Subject"]).startswith("New complaint")]


def levels(t: Triaged) -> list[int]:
    with transaction(t.app.engine) as session:
        return [c.escalation_level for c in session.exec(select(Complaint))]


def shop(make_triaged: Callable[..., Triaged], new_address: NewAddress,
         mailstack: MailStack, complaints: int) -> tuple[Triaged, str, str, str]:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    t = make_triaged(week=ROUND_THE_CLOCK, sla=FAST_LADDER, tail=people(team, dana, ana))
    t.cycle()
    for number in range(complaints):
        customer = new_address("late")
        smtp_send(mailstack, customer, t.support,
                  complaint_mail(customer, t.support, f"Order {number} never came", "Late."))
    assert t.cycle().tally.counts == {"complaint": complaints}
    return t, team, dana, ana


def test_a_step_forwards_past_the_whole_ladder_sends_one_digest_not_a_storm(
        make_triaged: Callable[..., Triaged], new_address: NewAddress,
        mailstack: MailStack) -> None:
    t, team, dana, ana = shop(make_triaged, new_address, mailstack, complaints=5)

    t.clock.advance(timedelta(hours=6))  # the clock jumps six hours ahead
    for _ in range(3):
        t.cycle()

    assert len(ladder_mail(mailstack, dana)) == 1, "one digest of the five, once"
    assert len(ladder_mail(mailstack, team)) <= 1, "staff: a digest at most, once"
    assert ladder_mail(mailstack, ana) == [], "level 2 waits its interval after level 1"
    assert levels(t) == [1] * 5

    t.clock.advance(timedelta(minutes=3))
    t.cycle()
    t.cycle()
    assert len(ladder_mail(mailstack, ana)) == 1, "then level 2, once"
    assert len(ladder_mail(mailstack, dana)) == 1
    assert levels(t) == [2] * 5


def test_a_step_backwards_repeats_nothing_and_every_rung_still_comes_once(
        make_triaged: Callable[..., Triaged], new_address: NewAddress,
        mailstack: MailStack) -> None:
    t, team, dana, ana = shop(make_triaged, new_address, mailstack, complaints=2)
    start = t.clock.now()

    t.clock.advance(timedelta(minutes=8))  # 2 minutes before the date: the reminder
    t.cycle()
    assert len(ladder_mail(mailstack, team)) == 1

    t.clock.advance(timedelta(hours=-1))  # NTP steps a fast clock back an hour
    for _ in range(3):
        t.cycle()
    assert len(ladder_mail(mailstack, team)) == 1, "no second reminder"
    assert ladder_mail(mailstack, dana) == []

    t.clock.set(start + timedelta(minutes=10, seconds=30))  # the date, reached again
    t.cycle()
    assert len(ladder_mail(mailstack, dana)) == 1, "level 1 is not skipped"

    t.clock.advance(timedelta(minutes=-30))  # another step back, after level 1
    t.cycle()
    t.clock.set(start + timedelta(minutes=13, seconds=30))  # level 1's interval is over
    t.cycle()
    t.cycle()

    assert len(ladder_mail(mailstack, ana)) == 1, "level 2 is not skipped either"
    assert len(ladder_mail(mailstack, dana)) == 1
    assert len(ladder_mail(mailstack, team)) == 1
    assert levels(t) == [2, 2]
