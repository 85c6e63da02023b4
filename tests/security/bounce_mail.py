"""Delivery reports for the fake-bounce tests: forged ones, and what a real MTA returns.

An installation with staff, three managers and an approval secret (so every
letter leaves with its own return address), on the session's real mail stack,
with the frozen clock of the integration tests.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from tests.mailstack import MailStack
from tests.support.approval import people
from tests.support.installation import MONDAY_10_BUCHAREST, Triaged, config_text
from tests.support.mail import complaint_mail, parsed, smtp_send
from triaged.ops.health import Health, check_health
from triaged.store.db import transaction
from triaged.store.models import Complaint, MessageRow, OutboxLetter, SuppressedAddress

SECRET = "return-path-secret-for-tests"
_ids = itertools.count(1)


def subject_of(data: bytes) -> str:
    return str(parsed(data)["Subject"])


@dataclass
class Shop:
    """One installation and the people it writes to."""

    t: Triaged
    stack: MailStack
    staff: str
    dana: str
    erin: str
    boss: str

    @classmethod
    def open(cls, stack: MailStack, support: str, folder: Path, staff: str, dana: str,
             erin: str, boss: str) -> Shop:
        imap_pass = folder / "imap.pass"
        imap_pass.write_text(stack.password(support) + "\n")
        key = folder / "approval.key"
        key.write_text(SECRET + "\n")
        path = folder / "config.toml"
        path.write_text(config_text(stack, support, folder / "triaged.db", imap_pass,
                                    tail=people(staff, dana, erin, boss, key)))
        shop = cls(Triaged(stack, support, path), stack, staff, dana, erin, boss)
        shop.t.cycle()  # first contact with the empty mailbox
        return shop

    def send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        """Hand `data` to the SMTP server for `rcpt`, then run one cycle."""
        smtp_send(self.stack, mail_from, rcpt, data, helo="mx.example.test")
        self.t.cycle()

    def complain(self, customer: str, subject: str = "Cake arrived crushed",
                 body: str = "The birthday cake arrived crushed. Please refund it.") -> Complaint:
        self.send(customer, self.t.support, complaint_mail(customer, self.t.support, subject,
                                                           body))
        with transaction(self.t.app.engine) as session:
            return list(session.exec(select(Complaint).order_by(col(Complaint.id))))[-1]

    def letters_to(self, address: str) -> list[OutboxLetter]:
        with transaction(self.t.app.engine) as session:
            return list(session.exec(select(OutboxLetter).where(OutboxLetter.to_email == address)
                                     .order_by(col(OutboxLetter.id))))

    def inbox(self, address: str, count: int) -> list[bytes]:
        return self.stack.wait_for_messages(address, "INBOX", count)

    def with_subject(self, address: str, phrase: str) -> list[bytes]:
        return [m for m in self.stack.messages(address) if phrase in subject_of(m)]

    def letter_count(self) -> int:
        with transaction(self.t.app.engine) as session:
            return len(session.exec(select(OutboxLetter.id)).all())

    def not_complaints(self) -> list[MessageRow]:
        with transaction(self.t.app.engine) as session:
            return list(session.exec(select(MessageRow)
                                     .where(MessageRow.outcome == "not_complaint")
                                     .order_by(col(MessageRow.id))))

    def suppressed(self) -> list[SuppressedAddress]:
        with transaction(self.t.app.engine) as session:
            return list(session.exec(select(SuppressedAddress)))

    def health(self) -> Health:
        return check_health(self.t.config, self.t.app.engine, self.t.clock.now())

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`triaged --config … ARGS` in a process of its own, as an operator runs it."""
        return subprocess.run([sys.executable, "-m", "triaged", "--config",
                               str(self.t.config_path), *args],
                              capture_output=True, text=True, timeout=60, check=False)

    def suppression_list(self) -> list[dict[str, Any]]:
        done = self.cli("suppression", "list", "--json")
        assert done.returncode == 0, done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)
        return found

    def return_address(self, letter: OutboxLetter) -> str:
        """The SMTP envelope sender the relay saw for `letter`."""
        [envelope] = [e for e in self.stack.smtp_received
                      if letter.to_email in e.rcpt_tos
                      and str(parsed(e.data)["Message-ID"]) == letter.message_id]
        return envelope.mail_from


def reply_to(original: bytes, sender: str, body: str) -> bytes:
    """What a mail client sends when `sender` presses Reply on `original`."""
    msg_in = parsed(original)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(msg_in["Reply-To"] or msg_in["From"])
    msg["Subject"] = f"Re: {msg_in['Subject']}"
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["In-Reply-To"] = str(msg_in["Message-ID"])
    msg["References"] = str(msg_in["Message-ID"])
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def forged_approval(manager: str, support: str, reference: str) -> bytes:
    """`APPROVE [REF]` in a manager's name, without any token: draws a refusal to them."""
    msg = EmailMessage()
    msg["From"] = manager
    msg["To"] = support
    msg["Subject"] = f"Re: Approval needed [{reference}]"
    msg["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    msg["Message-ID"] = make_msgid(domain="evil.example")
    msg.set_content("APPROVE")
    return msg.as_bytes(policy=SMTP)


def report(*, sender: str, to: str, failed: str, returned_id: str = "",
           status: str = "5.1.1", returned_headers: bool = True) -> bytes:
    """An RFC 3464 report of a permanent failure for `failed`, as Postfix writes it.

    From an ordinary `sender` it is what anyone can write; from a mailer daemon,
    to a letter's return address, it is what a real server sends back.
    """
    boundary = f"report-{next(_ids)}"
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Date: {format_datetime(MONDAY_10_BUCHAREST)}\r\n"
            f"Message-ID: {make_msgid(domain='mx.example.test')}\r\nAuto-Submitted: auto-replied"
            f"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
            f"report-type=delivery-status; boundary=\"{boundary}\"\r\n\r\n")
    parts = [
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"<{failed}>: host mx.example.test said: {status.replace('.', '')[0]}50 {status} "
        "User unknown (in reply to RCPT TO command)\r\n",
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.test\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{failed}>: User unknown\r\n",
    ]
    if returned_headers:
        id_line = f"Message-ID: {returned_id}\r\n" if returned_id else ""
        parts.append("Content-Type: text/rfc822-headers\r\n\r\n"
                     f"From: Acme Bakery <support@acme.example>\r\nTo: {failed}\r\n"
                     f"Subject: Your letter\r\n{id_line}")
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return (head + body).encode("ascii")
