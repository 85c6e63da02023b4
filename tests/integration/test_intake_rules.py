"""Intake rules on the real stack: forwards, follow-ups, quoted references, robots.

Each test delivers real mail into Dovecot, runs cycles of a triaged instance
(clock frozen) and looks at what a user would see: who the complaint belongs
to, which letters reached which mailbox, what staff were told.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from tests.mailstack import MailStack
from tests.support.fixture_types import MakeTriaged, NewAddress
from tests.support.installation import Triaged, config_text
from tests.support.intake import complaints_of, events_of, letters_to, notices, staff_tail
from tests.support.mail import complaint_mail, parsed, smtp_send
from triaged.cli.views import complaint_view
from triaged.core.references import find_in_text
from triaged.domain.records import ComplaintState
from triaged.store import rows
from triaged.store.db import write_transaction

FORWARDS = Path(__file__).resolve().parents[1] / "data" / "forwards"
_ids = itertools.count(1)


def text_of(data: bytes) -> str:
    part = parsed(data).get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def fixture(name: str, **swap: str) -> bytes:
    data = (FORWARDS / name).read_bytes()
    for old, new in swap.items():
        data = data.replace(old.encode(), new.encode())
    return data


# -- forwarded mail ----------------------------------------------------------------


def test_the_owners_forward_is_the_customers_complaint_and_only_the_customer_is_answered(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, customer = new_address("team"), new_address("minjun")
    t = make_triaged(tail=staff_tail(team, forwarders=("owner@acme.example",)))
    t.cycle()
    mailstack.append(t.support, "INBOX",
                     fixture("thunderbird-ko.eml", **{"minjun.kim@example.kr": customer}))

    report = t.cycle()

    assert report.tally.counts == {"complaint": 1}
    [complaint] = complaints_of(t)
    assert (complaint.customer_email, complaint.customer_name) == (customer, "김민준")
    assert complaint.subject == "케이크가 찌그러져 도착했습니다"
    assert complaint.forwarded_by == "owner@acme.example"
    assert complaint_view(complaint)["forwarded_by"] == "owner@acme.example", "show --json"
    assert complaint.language == "ko"
    [reply] = mailstack.wait_for_messages(customer, "INBOX", 1)
    assert parsed(reply)["Content-Language"] == "ko"
    assert "케이크가 찌그러져 도착했습니다" in str(parsed(reply)["Subject"])
    assert letters_to(t, "owner@acme.example") == [], "never a holding reply to the forwarder"
    [forwarded] = [e for e in events_of(t, complaint.reference) if e.kind == "forwarded"]
    assert '"forwarder": "owner@acme.example"' in forwarded.detail
    assert "Mon, 23 Nov 2026 09:12:44 +0200" in forwarded.detail


def test_a_forward_as_attachment_threads_the_holding_reply_to_the_original(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, customer = new_address("team"), new_address("peter")
    t = make_triaged(tail=staff_tail(team, forwarders=("owner@acme.example",)))
    t.cycle()
    mailstack.append(t.support, "INBOX", fixture("thunderbird-as-attachment-en.eml",
                                                 **{"peter.novak@example.cz": customer}))

    t.cycle()

    [reply] = mailstack.wait_for_messages(customer, "INBOX", 1)
    assert parsed(reply)["In-Reply-To"] == "<CAF7x9Q@mail.example.cz>"
    assert str(parsed(reply)["Subject"]).startswith("Re: Wrong order delivered [")


def test_a_forward_without_an_original_sender_stays_with_the_forwarder_and_staff_are_told(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, owner = new_address("team"), new_address("owner")
    t = make_triaged(tail=staff_tail(team, forwarders=(owner,)))
    t.cycle()
    mailstack.append(t.support, "INBOX",
                     fixture("forwarder-without-original.eml", **{"owner@acme.example": owner}))

    report = t.cycle()

    assert report.tally.counts == {"complaint": 1}
    [complaint] = complaints_of(t)
    assert complaint.customer_email == owner
    [notice] = notices(mailstack, team, "no original sender", 1)
    assert complaint.reference in text_of(notice.as_bytes())
    assert mailstack.messages(owner) == [], "no holding reply to the forwarder"
    kinds = [e.kind for e in events_of(t, complaint.reference)]
    assert "forward_unattributed" in kinds


def test_a_google_group_support_address_is_answered_to_the_customer(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("emily")
    t = make_triaged()
    t.cycle()
    group_mail = fixture("google-group-x-original-from.eml",
                         **{"emily.carter@example.net": customer,
                            "support@acme.example": t.support,
                            "support.acme.example": t.support.replace("@", ".")})
    mailstack.append(t.support, "INBOX", group_mail)

    report = t.cycle()

    assert report.tally.counts == {"complaint": 1}, "Precedence: list from our own group"
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1


# -- threading ------------------------------------------------------------------


def _complain(t: Triaged, stack: MailStack, customer: str, subject: str) -> tuple[str, bytes]:
    smtp_send(stack, customer, t.support, complaint_mail(customer, t.support, subject, "Text."))
    t.cycle()
    [reply] = stack.wait_for_messages(customer, "INBOX", 1)
    [reference] = find_in_text(str(parsed(reply)["Subject"]))
    return reference, reply


def test_follow_ups_with_localized_prefixes_or_a_rewritten_subject_attach_and_tell_staff(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, customer = new_address("team"), new_address("hans")
    t = make_triaged(tail=staff_tail(team))
    t.cycle()
    reference, reply = _complain(t, mailstack, customer, "Torte kaputt")
    subjects = [f"AW: Re: Torte kaputt [{reference}]", f"SV: [{reference}]",
                f"回复：Torte kaputt [{reference}]", f"답장: [{reference}] 케이크",
                f"Antw: VS: [{reference}]"]
    for subject in subjects:
        smtp_send(mailstack, customer, t.support,
                  complaint_mail(customer, t.support, subject, "Noch etwas."))
    # A client that rewrote the subject entirely but kept the threading headers.
    smtp_send(mailstack, customer, t.support,
              complaint_mail(customer, t.support, "a new subject entirely", "Und das.",
                             In_Reply_To=parsed(reply)["Message-ID"]))

    report = t.cycle()

    assert report.tally.counts == {"follow_up": len(subjects) + 1}
    assert len(complaints_of(t)) == 1
    assert len(mailstack.messages(customer)) == 1, "follow-ups get no letter"
    # Seven notices about one sender's mail in an hour: the first five go at once (the
    # new complaint and four follow-ups), the last two wait for the staff digest.
    told = notices(mailstack, team, "wrote again", 4)
    assert len(told) == 4
    assert all(reference in str(n["Subject"]) for n in told)
    t.clock.advance(timedelta(hours=1))
    t.cycle()
    [digest] = notices(mailstack, team, "(digest)", 1)
    assert f"[{reference}]" in text_of(digest.as_bytes())
    assert len(notices(mailstack, team, "wrote again", 5)) == 4


def test_a_follow_up_reopens_a_resolved_complaint(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("reopen")
    t = make_triaged()
    t.cycle()
    reference, _reply = _complain(t, mailstack, customer, "Late again")
    [complaint] = complaints_of(t)
    assert complaint.id is not None
    with write_transaction(t.app.engine) as conn:
        for old, new in ((ComplaintState.ACKNOWLEDGED, ComplaintState.IN_PROGRESS),
                         (ComplaintState.IN_PROGRESS, ComplaintState.AWAITING_APPROVAL),
                         (ComplaintState.AWAITING_APPROVAL, ComplaintState.RESOLVED)):
            assert rows.change_state(conn, complaint.id, old, new, now=t.clock.now(),
                                     actor="test") is not None

    smtp_send(mailstack, customer, t.support,
              complaint_mail(customer, t.support, f"Re: [{reference}]", "Still not fixed."))
    report = t.cycle()

    assert report.tally.counts == {"follow_up": 1}
    [reopened] = complaints_of(t)
    assert reopened.state == ComplaintState.IN_PROGRESS
    assert len(mailstack.messages(customer)) == 1


def test_another_senders_quoted_reference_opens_a_new_complaint_linked_to_the_old(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, first, other = new_address("team"), new_address("first"), new_address("other")
    t = make_triaged(tail=staff_tail(team))
    t.cycle()
    reference, _reply = _complain(t, mailstack, first, "Wrong cake")
    smtp_send(mailstack, other, t.support,
              complaint_mail(other, t.support, f"Same problem as [{reference}]", "Mine too."))

    report = t.cycle()

    assert report.tally.counts == {"complaint": 1}
    _old, new = complaints_of(t)
    assert (new.customer_email, new.linked_reference) == (other, reference)
    assert len(mailstack.wait_for_messages(other, "INBOX", 1)) == 1
    assert len(mailstack.messages(first)) == 1, "nothing reached the first customer"
    assert any(e.kind == "linked" and new.reference in e.detail
               for e in events_of(t, reference))
    [notice] = notices(mailstack, team, "New complaint quoting", 1)
    assert reference in str(notice["Subject"])


# -- loops ------------------------------------------------------------------------


def _robot_reply(robot: str, support: str, letter: bytes, *, thread: bool) -> bytes:
    """What a robot without auto headers writes back to every letter it gets."""
    got = parsed(letter)
    msg = EmailMessage()
    msg["From"] = robot
    msg["To"] = support
    msg["Message-ID"] = make_msgid(idstring=f"robot{next(_ids)}", domain="robot.example")
    msg["Date"] = got["Date"]
    if thread:
        msg["Subject"] = f"Re: {got['Subject']}"
        msg["In-Reply-To"] = got["Message-ID"]
        msg["References"] = got["Message-ID"]
    else:
        # A ticket system of its own: a fresh subject, no headers pointing at us.
        msg["Subject"] = f"Ticket #{next(_ids)} opened for your request"
    msg.set_content(f"We received your message.\n\n> {text_of(letter)[:200]}")
    return msg.as_bytes()


def test_a_robot_answering_every_letter_without_auto_headers_gets_at_most_three(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    threaded, fresh = new_address("robot-threads"), new_address("robot-fresh")
    t = make_triaged()
    t.cycle()
    for robot in (threaded, fresh):
        smtp_send(mailstack, robot, t.support,
                  complaint_mail(robot, t.support, "Your order", "Automated message."))
    seen = {threaded: 0, fresh: 0}
    for _round in range(8):
        t.cycle()
        for robot in (threaded, fresh):
            inbox = mailstack.messages(robot)
            for letter in inbox[seen[robot]:]:
                smtp_send(mailstack, robot, t.support,
                          _robot_reply(robot, t.support, letter, thread=robot == threaded))
            seen[robot] = len(inbox)
        t.clock.advance(timedelta(minutes=5))

    # At most 3 letters exchanged with a robot that sets no auto headers.
    assert len(mailstack.messages(threaded)) == 1, "its replies are follow-ups: no letter"
    assert len(mailstack.messages(fresh)) == 3, "the daily limit stops the rest"
    assert len(letters_to(t, fresh)) == 3


def test_two_triaged_instances_writing_to_each_other_exchange_one_letter(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack, tmp_path: Path
) -> None:
    # Two businesses' support addresses: A's owner writes to B's support from A's
    # support address; B answers once (Auto-Submitted), A never answers that.
    a = make_triaged()
    b_support = new_address("support-b")
    secret = tmp_path / "b.pass"
    secret.write_text(mailstack.password(b_support) + "\n")
    b_config = tmp_path / "b.toml"
    b_config.write_text(config_text(mailstack, b_support, tmp_path / "b.db", secret))
    b = Triaged(mailstack, b_support, b_config)
    try:
        a.cycle()
        b.cycle()
        smtp_send(mailstack, a.support, b_support,
                  complaint_mail(a.support, b_support, "Your invoice is wrong", "Please fix."))
        for _round in range(5):
            b.cycle()
            a.cycle()
        to_a = mailstack.messages(a.support, "Triaged")
        to_b = mailstack.messages(b_support, "Triaged")
    finally:
        b.close()

    assert len(to_b) == 1, "B read the one mail from A"
    assert len(to_a) == 1, "A read B's holding reply and answered nothing"
    assert parsed(to_a[0])["Auto-Submitted"] == "auto-replied"
    assert letters_to(a, b_support) == []
