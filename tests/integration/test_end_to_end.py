"""A customer's complaint, end to end on real servers: SMTP in, IMAP read, SMTP out."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.mail import body_text, complaint_mail, parsed, smtp_send
from triaged.core.references import find_in_text, is_valid
from triaged.domain.records import ComplaintState, RawMail
from triaged.store import quarantine_rows, queries
from triaged.store.db import transaction
from triaged.store.models import Complaint, OutboxLetter


def complaints_of(t: Triaged) -> list[Complaint]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(Complaint)))


def test_a_complaint_gets_a_threaded_holding_reply_with_reference_and_promised_date(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("maria")
    triaged.cycle()  # first contact: the empty mailbox is noted
    complaint = complaint_mail(customer, triaged.support, "Cake arrived crushed",
                               "The birthday cake was crushed.", name="Maria Popescu")
    smtp_send(mailstack, customer, triaged.support, complaint)

    report = triaged.cycle()

    assert report.ok
    assert report.tally.counts == {"complaint": 1}
    [reply_bytes] = mailstack.wait_for_messages(customer, "INBOX", 1)
    reply = parsed(reply_bytes)
    [reference] = find_in_text(str(reply["Subject"]))
    assert is_valid(reference)
    assert str(reply["Subject"]) == f"Re: Cake arrived crushed [{reference}]"
    original_id = parsed(complaint)["Message-ID"]
    assert reply["In-Reply-To"] == original_id
    assert original_id in str(reply["References"])
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Content-Language"] == "en"
    assert reply["From"].addresses[0].addr_spec == triaged.support
    assert reply["To"].addresses[0].addr_spec == customer
    text = body_text(reply)
    assert "Dear Maria Popescu" in text
    assert reference in text
    # Monday 10:00 + 5 business days, skipping Romania's 30 Nov and 1 Dec holidays.
    assert "Wednesday, December 2, 2026" in text
    # The promise names the business's zone: the customer may live in another one.
    assert "Wednesday, December 2, 2026, 10 AM (Romania Time)" in " ".join(text.split())
    [registered] = complaints_of(triaged)
    assert registered.reference == reference
    assert registered.state == ComplaintState.ACKNOWLEDGED
    # The complaint left the inbox for the processed folder, after it was committed.
    assert mailstack.folder_uids(triaged.support, "INBOX").uids == []
    assert len(mailstack.messages(triaged.support, "Triaged")) == 1


def test_first_contact_leaves_existing_mail_alone(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    old_customer = new_address("old")
    old = [complaint_mail(old_customer, triaged.support, f"old {i}", "old mail") for i in range(3)]
    mailstack.append(triaged.support, "INBOX", old)

    triaged.cycle()

    assert complaints_of(triaged) == []
    assert len(mailstack.folder_uids(triaged.support, "INBOX").uids) == 3
    assert mailstack.messages(old_customer) == []
    new_customer = new_address("new")
    smtp_send(mailstack, new_customer, triaged.support,
              complaint_mail(new_customer, triaged.support, "new", "new complaint"))
    triaged.cycle()
    assert [c.customer_email for c in complaints_of(triaged)] == [new_customer]
    assert len(mailstack.folder_uids(triaged.support, "INBOX").uids) == 3


def test_start_all_registers_existing_mail_without_replies(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack
) -> None:
    t = make_triaged(mailbox='start = "all"')
    customer = new_address("backlog")
    mailstack.append(t.support, "INBOX",
                     [complaint_mail(customer, t.support, f"old {i}", "old") for i in range(2)])

    report = t.cycle()

    assert report.tally.counts == {"complaint": 2}
    assert report.letters_tried == 0
    assert mailstack.messages(customer) == []
    later = new_address("later")
    smtp_send(mailstack, later, t.support, complaint_mail(later, t.support, "new", "new"))
    t.cycle()
    assert len(mailstack.wait_for_messages(later, "INBOX", 1)) == 1


def test_the_same_message_appended_twice_is_one_complaint(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("twice")
    triaged.cycle()
    data = complaint_mail(customer, triaged.support, "twice", "same bytes")
    mailstack.append(triaged.support, "INBOX", [data, data])

    report = triaged.cycle()

    assert report.tally.counts == {"complaint": 1, "duplicate": 1}
    assert len(complaints_of(triaged)) == 1
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1
    assert len(mailstack.messages(triaged.support, "Triaged")) == 2


def test_unparseable_mail_is_quarantined_with_a_reason_not_lost(
    triaged: Triaged, mailstack: MailStack
) -> None:
    triaged.cycle()
    mailstack.append(triaged.support, "INBOX", b"Subject: no sender here\r\n\r\nbody\r\n")

    report = triaged.cycle()

    assert report.ok
    assert report.tally.counts == {"quarantined": 1}
    with transaction(triaged.app.engine) as session:
        [entry] = quarantine_rows.list_quarantine(session.connection())
        assert "sender" in entry.reason
        assert entry.raw == b"Subject: no sender here\r\n\r\nbody\r\n"
    assert len(mailstack.messages(triaged.support, "Triaged")) == 1


def test_an_auto_reply_is_recorded_and_never_answered(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    robot = new_address("robot")
    triaged.cycle()
    smtp_send(mailstack, robot, triaged.support,
              complaint_mail(robot, triaged.support, "Out of office", "I am away",
                             Auto_Submitted="auto-replied"))

    report = triaged.cycle()

    assert report.tally.counts == {"not_complaint": 1}
    assert complaints_of(triaged) == []
    assert mailstack.messages(robot) == []


def test_a_reply_to_the_holding_letter_is_a_follow_up_not_a_new_complaint(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("follow")
    triaged.cycle()
    smtp_send(mailstack, customer, triaged.support,
              complaint_mail(customer, triaged.support, "Late delivery", "It came late."))
    triaged.cycle()
    reply = parsed(mailstack.wait_for_messages(customer, "INBOX", 1)[0])
    answer = complaint_mail(customer, triaged.support, f"Re: {reply['Subject']}",
                            "More details: it came two days late.",
                            In_Reply_To=reply["Message-ID"], References=reply["Message-ID"])
    smtp_send(mailstack, customer, triaged.support, answer)

    report = triaged.cycle()

    assert report.tally.counts == {"follow_up": 1}
    assert report.letters_tried == 0
    [complaint] = complaints_of(triaged)
    with transaction(triaged.app.engine) as session:
        detail = queries.complaint_detail(session, complaint.reference)
        assert detail is not None
        assert [m.outcome for m in detail[1]] == ["complaint", "follow_up"]


def test_a_crash_between_commit_and_move_neither_loses_nor_duplicates(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("crash")
    triaged.cycle()
    smtp_send(mailstack, customer, triaged.support,
              complaint_mail(customer, triaged.support, "crash", "before the move"))
    poller = triaged.app.pollers[0]

    def die(mails: Sequence[RawMail]) -> None:
        raise SystemExit("killed between the commit and the IMAP move")

    poller.source.mark_processed = die  # type: ignore[method-assign]
    with contextlib.suppress(SystemExit):
        poller.poll()
    assert len(mailstack.folder_uids(triaged.support, "INBOX").uids) == 1

    triaged.restart()
    report = triaged.cycle()

    assert len(complaints_of(triaged)) == 1
    assert report.tally.counts == {}
    assert mailstack.folder_uids(triaged.support, "INBOX").uids == []
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1


def test_a_temporary_smtp_refusal_is_retried_after_back_off(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("tempfail")
    triaged.cycle()
    mailstack.smtp_tempfail(customer, times=1)
    smtp_send(mailstack, customer, triaged.support,
              complaint_mail(customer, triaged.support, "retry", "please"))

    triaged.cycle()
    with transaction(triaged.app.engine) as session:
        [letter] = session.exec(select(OutboxLetter)).all()
        assert (letter.state, letter.attempts) == ("queued", 1)
        assert letter.last_error.startswith("451")
    assert mailstack.messages(customer) == []

    triaged.clock.advance(letter.next_attempt_at - triaged.clock.now())
    triaged.cycle()
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1


def test_a_permanent_smtp_refusal_is_recorded_and_not_retried(
    triaged: Triaged, mailstack: MailStack
) -> None:
    nobody = "nobody-here@example.test"  # no such Dovecot user: LMTP says 550
    triaged.cycle()
    smtp_send(mailstack, nobody, triaged.support,
              complaint_mail(nobody, triaged.support, "bounce me", "text"))

    report = triaged.cycle()

    assert report.ok
    with transaction(triaged.app.engine) as session:
        [letter] = session.exec(select(OutboxLetter)).all()
        assert letter.state == "failed"
        assert letter.last_error.startswith("5")
        [complaint] = session.exec(select(Complaint)).all()
        detail = queries.complaint_detail(session, complaint.reference)
        assert detail is not None
        assert "letter_failed" in [e.kind for e in detail[3]]


def test_at_most_three_automatic_letters_a_day_to_one_address(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    robot = new_address("chatty")
    triaged.cycle()
    for i in range(5):
        smtp_send(mailstack, robot, triaged.support,
                  complaint_mail(robot, triaged.support, f"complaint {i}", f"text {i}"))

    triaged.cycle()

    assert len(complaints_of(triaged)) == 5
    assert len(mailstack.wait_for_messages(robot, "INBOX", 3)) == 3
    triaged.cycle()
    assert len(mailstack.messages(robot)) == 3


def test_stats_json_counts_every_outcome(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    customer = new_address("stats")
    triaged.cycle()
    mailstack.append(triaged.support, "INBOX", [
        complaint_mail(customer, triaged.support, "one", "one"),
        b"garbage without headers",
    ])
    triaged.cycle()
    with transaction(triaged.app.engine) as session:
        counts = queries.outcome_counts(session)
    assert counts["complaint"] == 1
    assert counts["quarantined"] == 1
    assert set(counts) >= {"complaint", "follow_up", "not_complaint", "quarantined",
                           "approval_reply", "duplicate"}
    assert json.dumps(counts)
