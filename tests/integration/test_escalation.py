"""Reminders and the escalation ladder on the real mail stack, with a frozen clock.

A round-the-clock calendar and minute-scale durations make the whole ladder
happen within a test: reminder before the date, level 1 at the date, level 2
an interval later, one digest per manager per cycle, nothing once resolved,
and nothing outside working hours on an office calendar.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from tests import stored
from tests.mailstack import MailStack
from tests.support.escalation import FAST_LADDER, ROUND_THE_CLOCK, people
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.mail import body_text, complaint_mail, parsed, smtp_send
from triaged.domain.records import ComplaintState
from triaged.store.db import transaction, write_transaction
from triaged.store.models import Complaint, Event


def team_mail(stack: MailStack, team: str) -> list[bytes]:
    """What staff got besides the notice of each new complaint."""
    return [m for m in stack.messages(team)
            if not str(parsed(m)["Subject"]).startswith("New complaint")]


def complaint(t: Triaged, reference: str) -> Complaint:
    with transaction(t.app.engine) as session:
        return session.exec(select(Complaint).where(Complaint.reference == reference)).one()


def events_of(t: Triaged, reference: str, kind: str) -> list[Event]:
    found = complaint(t, reference)
    with transaction(t.app.engine) as session:
        return list(session.exec(select(Event).where(Event.complaint_id == found.id,
                                                     Event.kind == kind)))


def new_complaint(t: Triaged, stack: MailStack, customer: str, subject: str,
                  body: str = "My order never came.") -> str:
    smtp_send(stack, customer, t.support,
              complaint_mail(customer, t.support, subject, body, name="Maria Pop"))
    report = t.cycle()
    [reference] = report.tally.references
    return reference


def test_reminder_then_level_one_then_level_two_each_once(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    t = make_triaged(week=ROUND_THE_CLOCK, sla=FAST_LADDER, tail=people(team, dana, ana))
    t.cycle()
    reference = new_complaint(t, mailstack, new_address("late"), "Where is my cake",
                              "The cake for Saturday never came. It was for my mother.")
    assert complaint(t, reference).due_at == t.clock.now() + timedelta(minutes=10)

    t.clock.advance(timedelta(minutes=7))
    t.cycle()
    assert team_mail(mailstack, team) == []  # 3 minutes before the date: too early

    t.clock.advance(timedelta(minutes=1))  # 2 minutes before the date
    t.cycle()
    [reminder] = [parsed(m) for m in team_mail(mailstack, team)]
    assert reference in str(reminder["Subject"])
    assert "Due soon" in str(reminder["Subject"])
    assert reminder["Auto-Submitted"] == "auto-generated"
    assert "in 2 minutes" in body_text(reminder)
    assert mailstack.messages(dana) == []

    t.clock.advance(timedelta(minutes=1))
    t.cycle()
    assert len(team_mail(mailstack, team)) == 1  # reminded once only
    assert mailstack.messages(dana) == []  # not yet due

    t.clock.advance(timedelta(minutes=1, seconds=30))  # 30 s past the date
    t.cycle()
    [escalation] = [parsed(m) for m in mailstack.messages(dana)]
    text = body_text(escalation)
    assert "Overdue" in str(escalation["Subject"])
    assert reference in str(escalation["Subject"])
    assert "Hello Dana" in text
    assert "level-1 manager" in text
    assert "Maria Pop" in text
    assert "Where is my cake" in text
    assert "30 seconds late" in text
    assert "It was for my mother." in text  # what is known so far: the customer's words
    # The promise as the customer read it: local, rounded up to the hour, zone named.
    assert "Monday, November 23, 2026, 11 AM (Romania Time)" in " ".join(text.split())
    assert mailstack.messages(ana) == []
    assert complaint(t, reference).escalation_level == 1

    t.clock.advance(timedelta(minutes=2))
    t.cycle()
    assert len(mailstack.messages(dana)) == 1  # one interval not over: nobody new
    assert mailstack.messages(ana) == []

    t.clock.advance(timedelta(minutes=1))  # 3 minutes after level 1
    t.cycle()
    [second] = [parsed(m) for m in mailstack.messages(ana)]
    assert reference in str(second["Subject"])
    assert "level-2 manager" in body_text(second)
    assert len(mailstack.messages(dana)) == 1
    assert complaint(t, reference).escalation_level == 2
    [event_1, event_2] = events_of(t, reference, "escalated")
    assert '"level": 1' in event_1.detail
    assert dana in event_1.detail
    assert '"level": 2' in event_2.detail
    assert ana in event_2.detail

    # The top level hears again after `top_level_every`, not before.
    t.clock.advance(timedelta(minutes=30))
    t.cycle()
    assert len(mailstack.messages(ana)) == 1
    t.clock.advance(timedelta(minutes=30))
    t.cycle()
    assert len(mailstack.messages(ana)) == 2
    assert "you were told before" in body_text(parsed(mailstack.messages(ana)[1]))


def test_several_overdue_complaints_make_one_digest_per_manager(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    t = make_triaged(week=ROUND_THE_CLOCK, sla=FAST_LADDER, tail=people(team, dana, ana))
    t.cycle()
    references = [new_complaint(t, mailstack, new_address("many"), f"Problem {n}")
                  for n in range(3)]

    t.clock.advance(timedelta(minutes=8))
    t.cycle()
    [reminder] = team_mail(mailstack, team)
    assert all(ref in body_text(parsed(reminder)) for ref in references)

    t.clock.advance(timedelta(minutes=2))
    report = t.cycle()
    assert sorted(report.escalation.escalated) == sorted(references)
    [digest] = mailstack.messages(dana)
    text = body_text(parsed(digest))
    assert "3 customers were promised" in text
    assert all(ref in text for ref in references)
    assert "Overdue: 3 complaints" in str(parsed(digest)["Subject"])


def test_no_escalation_once_the_complaint_is_resolved(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    t = make_triaged(week=ROUND_THE_CLOCK, sla=FAST_LADDER, tail=people(team, dana, ana))
    t.cycle()
    settled = new_complaint(t, mailstack, new_address("settled"), "Settled in time")
    open_one = new_complaint(t, mailstack, new_address("open"), "Still open")
    # Its final letter was approved and sent: drafted, approved, resolved.
    found = complaint(t, settled)
    assert found.id is not None
    with write_transaction(t.app.engine) as conn:
        stored.walk(conn, found.id, [ComplaintState.IN_PROGRESS,
                                     ComplaintState.AWAITING_APPROVAL, ComplaintState.RESOLVED],
                    now=t.clock.now(), actor="test", start=ComplaintState(found.state))

    t.clock.advance(timedelta(minutes=11))
    t.cycle()
    t.clock.advance(timedelta(minutes=4))
    t.cycle()

    for letter in [*mailstack.messages(dana), *mailstack.messages(ana),
                   *team_mail(mailstack, team)]:
        assert settled not in body_text(parsed(letter))
    assert [open_one in body_text(parsed(m)) for m in mailstack.messages(dana)] == [True]
    assert complaint(t, settled).escalation_level == 0
    assert complaint(t, settled).nudge_at is None  # off the ladder: the scan never reads it
    assert events_of(t, settled, "escalated") == []


def test_managers_are_not_written_to_outside_working_hours(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    t = make_triaged(sla='resolve_within = "7 business hours"\nremind_before = "1 business hour"',
                     tail=people(team, dana, ana))
    t.cycle()
    reference = new_complaint(t, mailstack, new_address("night"), "Due at closing")
    # Monday 10:00 + 7 business hours = Monday 17:00, closing time in Bucharest.
    assert complaint(t, reference).due_at == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

    t.clock.set(datetime(2026, 11, 23, 21, 0, tzinfo=UTC))  # 23:00 local
    t.cycle()
    # The reminder was due at 16:00 local but the run only now looks; nobody is
    # written to at 23:00, reminder or escalation.
    assert mailstack.messages(dana) == []
    assert team_mail(mailstack, team) == []

    t.clock.set(datetime(2026, 11, 24, 7, 0, 5, tzinfo=UTC))  # Tuesday 09:00:05 local
    t.cycle()
    assert len(mailstack.messages(dana)) == 1
    assert reference in body_text(parsed(mailstack.messages(dana)[0]))


def test_a_promise_closer_than_remind_before_is_never_reminded_with_the_notice(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    sla = FAST_LADDER.replace('remind_before = "2 minutes"', 'remind_before = "1 hour"')
    t = make_triaged(week=ROUND_THE_CLOCK, sla=sla, tail=people(team, dana, ana))
    t.cycle()
    reference = new_complaint(t, mailstack, new_address("soon"), "Cake due in ten minutes")

    [notice] = [parsed(m) for m in mailstack.wait_for_messages(team, "INBOX", 1)]
    assert str(notice["Subject"]).startswith("New complaint")
    assert team_mail(mailstack, team) == [], "no 'Due soon' with the 'New complaint'"
    t.clock.advance(timedelta(minutes=9))
    t.cycle()
    assert team_mail(mailstack, team) == [], "nor later: the promise was closer than 1 hour"
    t.clock.advance(timedelta(minutes=1, seconds=30))
    t.cycle()
    assert len(mailstack.wait_for_messages(dana, "INBOX", 1)) == 1, "the date still escalates"
    assert events_of(t, reference, "reminded") == []
    assert team_mail(mailstack, team) == []


def test_a_reminder_shows_the_current_state_and_is_among_shows_letters(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    t = make_triaged(week=ROUND_THE_CLOCK, sla=FAST_LADDER, tail=people(team, dana, ana))
    t.cycle()
    reference = new_complaint(t, mailstack, new_address("due"), "Where is my order")
    t.clock.advance(timedelta(minutes=8))
    t.cycle()

    [reminder] = [parsed(m) for m in team_mail(mailstack, team)]
    assert "Due soon" in str(reminder["Subject"])
    assert "State:    acknowledged" in body_text(reminder), "the holding reply went out"
    shown = subprocess.run(
        [sys.executable, "-m", "triaged", "--config", str(t.config_path), "show", reference,
         "--json"], capture_output=True, text=True, timeout=60, check=True)
    letters = json.loads(shown.stdout)["letters"]
    assert [(x["kind"], x["to"]) for x in letters if x["kind"] == "reminder"] == [("reminder",
                                                                                   team)]
