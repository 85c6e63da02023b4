"""The project's own hostile and malformed messages, delivered into a real Dovecot
mailbox and read by one cycle of the daemon: each becomes what it should (a
complaint, a recorded non-complaint, or a quarantine with a reason), nothing is
lost, every complaint's customer gets a holding reply and no robot gets one."""

from __future__ import annotations

from collections import Counter

from sqlmodel import select

from tests.hostile_mime import EXPECTED, fixture_names, read
from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from triaged.store.db import transaction
from triaged.store.models import Complaint, MessageRow, OutboxLetter, Quarantine


def test_every_hostile_fixture_becomes_what_it_should_and_complaints_are_answered(
    triaged: Triaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    names = fixture_names()
    customers = {name: new_address("hostile") for name in names}
    triaged.cycle()  # first contact with the empty mailbox
    mailstack.append(triaged.support, "INBOX", [read(n, customers[n]) for n in names])
    delivered = mailstack.folder_uids(triaged.support, "INBOX").uids
    assert len(delivered) == len(names), "the mail server took every fixture"
    name_of = dict(zip(delivered, names, strict=True))

    report = triaged.cycle()

    assert report.ok, report.failures
    with transaction(triaged.app.engine) as session:
        rows = {row.uid: row for row in session.exec(select(MessageRow))}
        complaints = {c.id: c for c in session.exec(select(Complaint))}
        parked: dict[int | None, str] = {
            q.message_row_id: q.reason for q in session.exec(select(Quarantine))}
        letters = list(session.exec(select(OutboxLetter)))
    # Nothing is lost: one row per message, and the counts add up to what was sent.
    assert sorted(rows) == delivered
    outcomes = Counter(row.outcome for row in rows.values())
    assert outcomes == Counter(e.outcome for e in EXPECTED.values())
    assert report.tally.counts == dict(outcomes)
    for uid, row in rows.items():
        name, expected = name_of[uid], EXPECTED[name_of[uid]]
        assert row.outcome == expected.outcome, name
        if expected.outcome == "quarantined":
            assert expected.detail in parked[row.id], name
            assert row.raw is not None, f"{name}: its bytes are kept for replay"
        elif expected.outcome == "not_complaint":
            assert row.rule == expected.detail, name
        else:
            complaint = complaints[row.complaint_id]
            assert complaint.customer_email == customers[name], name
            assert expected.detail in f"{complaint.subject}\n{row.text}", name

    # Every complaint's customer finds one holding reply naming the reference;
    # no robot, list or report sender gets anything.
    answered = Counter(letter.to_email for letter in letters)
    for name in names:
        if EXPECTED[name].outcome == "complaint":
            assert answered[customers[name]] == 1, name
            [reply] = mailstack.wait_for_messages(customers[name], "INBOX", 1)
            [complaint] = [c for c in complaints.values()
                           if c.customer_email == customers[name]]
            assert complaint.reference.encode() in reply, name
        else:
            assert answered[customers[name]] == 0, name
            assert mailstack.messages(customers[name]) == [], name
    assert mailstack.folder_uids(triaged.support, "INBOX").uids == []
    assert triaged.cycle().tally.counts == {}, "nothing is read twice"
