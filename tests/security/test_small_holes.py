"""Attacks by mail alone on what triaged writes and stores, on the real mail stack:
a From smuggling a second recipient, a huge subject or body inflating letters to
staff, a huge mail filling the database, reply tokens leaking through `show` and
`export`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from tests.mailstack import MailStack
from tests.security.small_mail import (
    cli,
    decoded_header,
    export_texts,
    hostile_from,
    live_tokens,
    mail,
    parsed,
    people,
    readable,
    reply,
)
from tests.support.fixture_types import MakeTriaged, NewAddress
from tests.support.installation import Triaged
from tests.support.mail import smtp_send
from triaged.store.db import transaction
from triaged.store.models import Complaint, MessageRow, OutboxLetter


def complaints(t: Triaged) -> list[Complaint]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(Complaint)))


def outbox(t: Triaged) -> list[OutboxLetter]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(OutboxLetter)))


@pytest.mark.parametrize("shape", ["x@y <{victim},{third}>", "{victim}, {third}",
                                   "Support <{victim}>, Boss <{third}>"])
def test_a_from_naming_two_mailboxes_writes_to_nobody_and_is_kept_for_staff(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack, shape: str,
) -> None:
    victim, third, genuine = new_address("victim"), new_address("third"), new_address("maria")
    t = make_triaged()
    t.cycle()
    smtp_send(mailstack, victim, t.support,
              hostile_from(shape.format(victim=victim, third=third), t.support))
    # A customer whose display name looks like an address is still one mailbox.
    smtp_send(mailstack, genuine, t.support,
              mail(f"maria@shop <{genuine}>", t.support, "Broken cake", "It arrived broken."))

    report = t.cycle()

    assert report.tally.counts == {"quarantined": 1, "complaint": 1}
    assert [c.customer_email for c in complaints(t)] == [genuine]
    assert [letter.to_email for letter in outbox(t)] == [genuine]
    assert mailstack.messages(third) == [], "no letter reaches the smuggled recipient"
    assert mailstack.messages(victim) == []
    [holding] = mailstack.wait_for_messages(genuine, count=1)
    assert decoded_header(parsed(holding), "To").endswith(f"<{genuine}>")
    # Nothing lost: the hostile mail waits in quarantine, saying why.
    [entry] = json.loads(cli(t, "quarantine", "list", "--json"))
    assert "From" in entry["reason"]
    assert "mailbox" in entry["reason"]
    assert third in cli(t, "quarantine", "show", str(entry["id"]))


def test_a_huge_subject_and_body_give_staff_letters_of_bounded_size(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack, tmp_path: Path,
) -> None:
    staff, customer = new_address("team"), new_address("maria")
    t = make_triaged(tail=people(staff, (), tmp_path / "approval.key"))
    t.cycle()
    subject = "refund " * 150_000  # 1 MB
    body = "My cake was crushed and I want my money back.\n" * 60_000  # 2.8 MB
    name = "Maria " * 20_000  # and a display name of 120 KB
    smtp_send(mailstack, customer, t.support,
              mail(f"{name} <{customer}>", t.support, subject, body))

    t.cycle()

    [complaint] = complaints(t)
    [holding] = mailstack.wait_for_messages(customer, count=1)
    [notice] = mailstack.wait_for_messages(staff, count=1)
    for letter in (holding, notice):
        assert len(letter) < 64_000, f"a letter of {len(letter)} bytes from one mail"
        assert complaint.reference in decoded_header(parsed(letter), "Subject")
    assert len(decoded_header(parsed(holding), "Subject")) < 400
    assert decoded_header(parsed(holding), "Subject").endswith(f"[{complaint.reference}]")
    text = readable(notice)
    assert "more characters not shown" in text
    assert f"triaged show {complaint.reference}" in text

    # The customer writes again, with another megabyte of subject: staff are told, briefly.
    smtp_send(mailstack, customer, t.support, reply(holding, customer, body))
    t.cycle()
    notices = mailstack.wait_for_messages(staff, count=2)
    [again] = [n for n in notices if "wrote again" in decoded_header(parsed(n), "Subject")]
    assert len(again) < 64_000
    assert complaint.reference in decoded_header(parsed(again), "Subject")


def test_a_mail_over_the_raw_cap_is_registered_and_answered_with_its_size_noted(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack,
) -> None:
    customer = new_address("maria")
    t = make_triaged(tail='\n[limits]\nraw_max = "64 KB"\n')
    t.cycle()
    body = "The bread was mouldy. " + "Every slice had green spots. " * 12_000  # ~350 KB
    smtp_send(mailstack, customer, t.support, mail(customer, t.support, "Mouldy bread", body))

    report = t.cycle()

    assert report.tally.counts == {"complaint": 1}, "never quarantined for size alone"
    [complaint] = complaints(t)
    [holding] = mailstack.wait_for_messages(customer, count=1)
    assert complaint.reference in decoded_header(parsed(holding), "Subject")
    with transaction(t.app.engine) as session:
        [row] = session.exec(select(MessageRow))
        assert row.raw is not None
        assert len(row.raw) == 64 * 1024
        assert row.size > 300_000
        assert b"Subject: Mouldy bread" in row.raw, "the headers are kept"
        assert "Every slice had green spots" in row.text
    shown = cli(t, "show", complaint.reference)
    assert f"raw mail of {row.size:,} bytes" in shown
    assert "Every slice had green spots" in shown


def test_show_and_export_hold_no_reply_token_that_would_verify(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack, tmp_path: Path,
) -> None:
    staff, dana, erin = new_address("team"), new_address("dana"), new_address("erin")
    customer = new_address("maria")
    t = make_triaged(tail=people(staff, (dana, erin), tmp_path / "approval.key"))
    t.cycle()
    smtp_send(mailstack, customer, t.support,
              mail(customer, t.support, "Wrong cake", "I ordered chocolate, got lemon."))
    t.cycle()
    [notice] = mailstack.wait_for_messages(staff, count=1)
    smtp_send(mailstack, staff, t.support,
              reply(notice, staff, "We are sorry: a chocolate cake is on its way."))
    t.cycle()
    [request] = mailstack.wait_for_messages(dana, count=1)
    recipients = [staff, dana, erin]
    # The letters themselves carry working tokens: what must not leak exists.
    assert live_tokens(readable(notice), recipients)
    assert live_tokens(readable(request), recipients)
    [complaint] = complaints(t)
    assert complaint.state == "awaiting_approval"

    shown = cli(t, "show", complaint.reference)
    as_json = cli(t, "show", complaint.reference, "--json")
    exported = cli(t, "export")

    for output in (shown, as_json, export_texts(exported)):
        assert live_tokens(output, recipients) == []
    for output in (shown, as_json, exported):
        assert "[token]" in output
    # Dana's letter still works: the token in her mailbox approves.
    smtp_send(mailstack, dana, t.support, reply(request, dana, "APPROVE"))
    t.cycle()
    assert [c.state for c in complaints(t)] == ["resolved"]
