"""Hostile situations on the real servers: a folder recreated under a new UIDVALIDITY,
flag-only processing, IMAP and SMTP outages, and one mail sent to two of our mailboxes.

Each test checks what a customer or an operator would notice: how many complaints and
letters exist, who got how many letters, what the log and the exit status said.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import imapclient
import pytest
from sqlmodel import col, select

from tests.mailstack import MailStack
from tests.support.cli import IMAP_SECRET, Install
from tests.support.fixture_types import MakeTriaged, NewAddress
from tests.support.installation import Triaged, point_at
from tests.support.mail import complaint_mail, smtp_send
from tests.support.ports import dead_port
from triaged.store import cursor_rows
from triaged.store.db import transaction
from triaged.store.models import Complaint, MessageRow, OutboxLetter


def complaints_of(t: Triaged) -> list[Complaint]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(Complaint).order_by(col(Complaint.id))))


def letters_of(t: Triaged) -> list[OutboxLetter]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(OutboxLetter).order_by(col(OutboxLetter.id))))


def outcomes_of(t: Triaged) -> list[str]:
    with transaction(t.app.engine) as session:
        return [m.outcome for m in session.exec(select(MessageRow).order_by(col(MessageRow.id)))]


# ---- UIDVALIDITY ---------------------------------------------------------------------------


def recreate(stack: MailStack, address: str, folder: str, messages: list[bytes]) -> None:
    """Delete the folder and make it anew with `messages`: Dovecot gives a new UIDVALIDITY
    and numbers the messages from UID 1 again (a restore, a server migration). Like the
    migration tools, it keeps the arrival time (INTERNALDATE) of messages it had."""
    old = stack.folder_uids(address, folder).uidvalidity
    with stack.imap_client(address) as client:
        client.normalise_times = False
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        found = client.fetch(uids, ["BODY.PEEK[]", "INTERNALDATE"]) if uids else {}
        # The server hands messages back with CRLF line ends; compare by content.
        arrived = {_lf(bytes(v[b"BODY[]"])): v[b"INTERNALDATE"] for v in found.values()}
        client.close_folder()
        client.delete_folder(folder)
        client.create_folder(folder)
        for data in messages:
            client.append(folder, data, msg_time=arrived.get(_lf(data)))
    assert stack.folder_uids(address, folder).uidvalidity != old


def _lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def test_a_recreated_folder_with_a_new_uidvalidity_brings_no_second_complaint(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    t = make_triaged(mailbox='folder = "Support"')
    mailstack.append(t.support, "Support", [])  # the folder exists before first contact
    t.cycle()
    customers = [new_address("uv") for _ in range(3)]
    first = [complaint_mail(c, t.support, f"complaint {i}", f"text {i}")
             for i, c in enumerate(customers[:2])]
    mailstack.append(t.support, "Support", first)
    assert t.cycle().tally.counts == {"complaint": 2}

    newest = complaint_mail(customers[2], t.support, "complaint 2", "text 2")
    recreate(mailstack, t.support, "Support", [*first, newest])
    t.restart()
    report = t.cycle()

    assert report.ok
    assert report.tally.counts == {"duplicate": 2, "complaint": 1}
    assert outcomes_of(t) == ["complaint", "complaint", "duplicate", "duplicate", "complaint"]
    assert sorted(c.customer_email for c in complaints_of(t)) == sorted(customers)
    assert sorted(letter.to_email for letter in letters_of(t)) == sorted(customers)
    for customer in customers:
        assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1
    assert mailstack.folder_uids(t.support, "Support").uids == []
    assert t.cycle().tally.counts == {}, "the new UIDVALIDITY is remembered"
    for customer in customers:
        assert len(mailstack.messages(customer)) == 1


def test_new_mail_at_old_uids_after_a_server_migration_is_not_taken_for_processed_mail(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    t = make_triaged(mailbox='folder = "Support"')
    mailstack.append(t.support, "Support", [])
    t.cycle()
    old, new = new_address("before-move"), [new_address("after-move") for _ in range(2)]
    mailstack.append(t.support, "Support", [complaint_mail(old, t.support, f"old {i}", f"{i}")
                                            for i in range(2)])
    assert t.cycle().tally.counts == {"complaint": 2}

    # The new server's folder holds only new mail, at UIDs 1 and 2: the very UIDs the
    # cursor remembers as done. A restart (or an outage) makes triaged reconcile first.
    recreate(mailstack, t.support, "Support",
             [complaint_mail(c, t.support, "new server", "new") for c in new])
    t.restart()
    report = t.cycle()

    assert report.tally.counts == {"complaint": 2}, "the new mail is read, not moved unread"
    assert [c.customer_email for c in complaints_of(t)][2:] == new
    for customer in new:
        assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1


def test_old_mail_left_alone_at_first_contact_stays_alone_after_a_uidvalidity_change(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    t = make_triaged(mailbox='folder = "Support"')
    old_customer, new_customer = new_address("last-year"), new_address("today")
    old_mail = [complaint_mail(old_customer, t.support, f"old {i}", f"old {i}") for i in range(2)]
    last_year = datetime.now(UTC) - timedelta(days=365)
    with mailstack.imap_client(t.support) as client:
        client.create_folder("Support")
        for data in old_mail:
            client.append("Support", data, msg_time=last_year)
    t.cycle()  # start = "now": the two old messages are the business's, left alone
    recreate(mailstack, t.support, "Support",
             [*old_mail, complaint_mail(new_customer, t.support, "new", "new")])
    t.restart()

    t.cycle()

    assert [c.customer_email for c in complaints_of(t)] == [new_customer]
    assert mailstack.messages(old_customer) == [], "no surprise replies to last year's mail"


# ---- processed_folder = "" -----------------------------------------------------------------


def test_with_no_processed_folder_mail_is_flagged_seen_and_processed_once(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack
) -> None:
    t = make_triaged(mailbox='processed_folder = ""')
    t.cycle()
    customer, reader = new_address("seen"), new_address("read-already")
    smtp_send(mailstack, customer, [t.support],
              complaint_mail(customer, t.support, "Flag me", "flag only"))
    with mailstack.imap_client(t.support) as client:
        # Staff read this one in their mail client before triaged saw it.
        client.append("INBOX", complaint_mail(reader, t.support, "Read", "already read"),
                      flags=[imapclient.SEEN])

    report = t.cycle()
    t.restart()
    again = t.cycle()

    assert report.tally.counts == {"complaint": 2}
    assert again.tally.counts == {}
    assert len(complaints_of(t)) == 2
    with mailstack.imap_client(t.support) as client:
        assert client.folder_exists("Triaged") is False, "no folder made when none is wanted"
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert len(flags) == 2, "the mail stays where it was"
    assert all(imapclient.SEEN in f for f in flags.values())
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1
    assert len(mailstack.wait_for_messages(reader, "INBOX", 1)) == 1


# ---- IMAP outage -------------------------------------------------------------------------


def test_an_imap_outage_fails_the_cycle_then_the_mail_of_the_outage_is_processed_once(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = make_triaged()
    t.cycle()
    before, during = new_address("before"), new_address("during")
    smtp_send(mailstack, before, [t.support], complaint_mail(before, t.support, "a", "before"))
    assert t.cycle().tally.counts == {"complaint": 1}

    point_at(t, imap_port=dead_port())
    smtp_send(mailstack, during, [t.support], complaint_mail(during, t.support, "b", "during"))
    with caplog.at_level(logging.WARNING):
        outage = t.cycle()
    point_at(t)
    back = t.cycle()
    after = t.cycle()

    assert not outage.ok, "run --once exits 1 for this cycle"
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "connection refused" in line
    assert back.ok
    assert back.tally.counts == {"complaint": 1}
    assert after.tally.counts == {}
    assert [c.customer_email for c in complaints_of(t)] == [before, during]
    assert len(mailstack.wait_for_messages(during, "INBOX", 1)) == 1
    assert len(mailstack.messages(before)) == 1


# ---- SMTP outage -------------------------------------------------------------------------


def test_letters_wait_in_the_outbox_while_smtp_is_down_and_go_out_once_when_it_returns(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = make_triaged()
    t.cycle()
    customers = [new_address("wait") for _ in range(3)]
    for c in customers:
        smtp_send(mailstack, c, [t.support], complaint_mail(c, t.support, "down", "smtp down"))

    point_at(t, smtp_port=dead_port())
    with caplog.at_level(logging.ERROR, logger="triaged"):
        down = t.cycle()
        still_down = t.cycle()
    queued = letters_of(t)
    point_at(t)
    # No back-off to wait out: a letter that never reached a server is due at once, so
    # the first cycle after the server returns sends everything.
    back = t.cycle()
    later = t.cycle()

    assert down.ok, "the cycle ran: run --once exits 0"
    assert down.tally.counts == {"complaint": 3}
    assert still_down.ok
    # Never handed to a server: no attempt counted; the letter that tried says why.
    assert [(x.state, x.attempts) for x in queued] == [("queued", 0)] * 3
    assert any("unreachable" in x.last_error for x in queued)
    smtp_lines = [r for r in caplog.records if "SMTP" in r.getMessage()]
    assert len(smtp_lines) == 1, "one line for the outage, not one per letter or per poll"
    assert back.letters_tried == 3
    assert later.letters_tried == 0
    assert [x.state for x in letters_of(t)] == ["sent"] * 3
    for c in customers:
        assert len(mailstack.wait_for_messages(c, "INBOX", 1)) == 1
    assert {c.state for c in complaints_of(t)} == {"acknowledged"}


def test_run_once_exits_0_while_smtp_is_down_and_the_letter_stays_queued(
    mailstack: MailStack, new_address: NewAddress, tmp_path: Path
) -> None:
    install = Install(mailstack, new_address("support", password=IMAP_SECRET), tmp_path)
    path = install.config(smtp_port=dead_port())
    install.cycle(path)
    customer = new_address("queued")
    install.send(customer, "Nobody answers", "Is anyone there?")

    result = install.run(path, "run", "--once")
    [complaint] = install.run(path, "list", "--json").json()
    shown = install.run(path, "show", complaint["reference"], "--json").json()

    assert result.code == 0, result.describe()
    assert "Traceback" not in result.err
    [letter] = shown["letters"]
    assert letter["state"] == "queued"
    # It never reached a server: no attempt is counted, and no back-off delays it.
    assert letter["attempts"] == 0
    assert "unreachable" in letter["last_error"]
    assert complaint["state"] == "received"
    assert mailstack.messages(customer) == []


# ---- two mailboxes ---------------------------------------------------------------------------


def second_mailbox(stack: MailStack, address: str, secret: Path) -> str:
    secret.write_text(stack.password(address) + "\n")
    return f"""
[[mailboxes]]
name = "sales"
address = "{address}"
host = "{stack.host}"
port = {stack.imap_port}
security = "plain"
username = "{address}"
password_file = "{secret}"
"""


def test_one_mail_to_two_of_our_mailboxes_is_one_complaint_with_one_reply(
    make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack, tmp_path: Path
) -> None:
    sales = new_address("sales")
    t = make_triaged(tail=second_mailbox(mailstack, sales, tmp_path / "sales.pass"))
    t.cycle()
    customer, other = new_address("both"), new_address("only-sales")
    smtp_send(mailstack, customer, [t.support, sales],
              complaint_mail(customer, f"{t.support}, {sales}", "To you both", "One mail."))

    report = t.cycle()
    smtp_send(mailstack, other, [sales], complaint_mail(other, sales, "Sales only", "Hi"))
    report_sales = t.cycle()

    assert report.tally.counts == {"complaint": 1, "duplicate": 1}
    [first, second] = complaints_of(t)
    assert first.customer_email == customer
    assert (second.customer_email, second.mailbox) == (other, "sales")
    assert report_sales.tally.counts == {"complaint": 1}
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1
    assert len(mailstack.messages(customer)) == 1, "one holding reply, not one per mailbox"
    with transaction(t.app.engine) as session:
        support_cursor = cursor_rows.read_cursor(session.connection(), "support", "INBOX")
        sales_cursor = cursor_rows.read_cursor(session.connection(), "sales", "INBOX")
    assert support_cursor is not None
    assert sales_cursor is not None
    assert (support_cursor.last_uid, sales_cursor.last_uid) == (1, 2), "a cursor each"
    for mailbox in (t.support, sales):
        assert mailstack.folder_uids(mailbox, "INBOX").uids == []
