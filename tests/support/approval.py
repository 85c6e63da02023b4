"""The approval tests' shop (staff, managers, a customer) and replies as real mail clients
write them.

The fixtures that open a shop (``make_shop``, ``shop``) are in tests/conftest.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.installation import Triaged
from tests.support.mail import body_text, complaint_mail, parsed, smtp_send
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter

SECRET = "approval-secret-for-tests"
RESOLUTION = ("Wir erstatten Ihnen den vollen Preis von 45 Euro und backen Ihnen eine neue "
              "Torte, die wir am Freitag kostenlos liefern.")


def people(staff: str, dana: str, erin: str, boss: str, key: Path, approval: str = "") -> str:
    return f"""
[staff]
notify = ["{staff}"]

[[managers]]
email = "{dana}"
name = "Dana"
level = 1

[[managers]]
email = "{erin}"
name = "Erin"
level = 1

[[managers]]
email = "{boss}"
name = "Boss"
level = 2

[approval]
secret_file = "{key}"
token_ttl = "14 days"
{approval}
"""


def reply_to(original: bytes, sender: str, body: str, *, html: str = "",
             **headers: str) -> bytes:
    """What a mail client sends when `sender` presses Reply on `original` and writes `body`."""
    msg_in = parsed(original)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(msg_in["Reply-To"] or msg_in["From"])
    msg["Subject"] = f"Re: {msg_in['Subject']}"
    msg["Date"] = format_datetime(msg_in["Date"].datetime)
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["In-Reply-To"] = str(msg_in["Message-ID"])
    msg["References"] = f"{msg_in.get('References', '')} {msg_in['Message-ID']}".strip()
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    if html:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
    # CRLF line ends: smtplib sends bytes as they are, and SMTP needs CRLF.
    return msg.as_bytes(policy=SMTP)


def gmail_quote(original: bytes) -> str:
    text = body_text(parsed(original))
    quoted = "\n".join(f"> {line}" for line in text.splitlines())
    attribution = "On Mon, Nov 23, 2026 at 10:00 AM Acme Bakery <support@acme.example> wrote:"
    return f"{attribution}\n\n{quoted}\n"


def outlook_quote(original: bytes) -> str:
    msg = parsed(original)
    return (f"From: {msg['From']}\nSent: Monday, November 23, 2026 10:00 AM\nTo: {msg['To']}\n"
            f"Subject: {msg['Subject']}\n\n{body_text(msg)}")


@dataclass
class Shop:
    t: Triaged
    stack: MailStack
    staff: str
    dana: str
    erin: str
    boss: str
    customer: str

    def send(self, sender: str, data: bytes) -> None:
        to = str(parsed(data)["To"])
        smtp_send(self.stack, sender, to.split("<")[-1].rstrip(">"), data)
        self.t.cycle()

    def complain(self, subject: str = "Torte zerdrückt",
                 body: str = "Die Geburtstagstorte kam völlig zerdrückt an. Das war "
                             "sehr ärgerlich, die Feier war am Samstag.",
                 name: str = "Maria Schmidt") -> Complaint:
        data = complaint_mail(self.customer, self.t.support, subject, body, name=name)
        self.complaint_bytes = data
        self.send(self.customer, data)
        with transaction(self.t.app.engine) as session:
            return list(session.exec(select(Complaint)))[-1]

    def inbox(self, address: str, count: int) -> list[bytes]:
        return self.stack.wait_for_messages(address, "INBOX", count)

    def letter(self, address: str, subject_part: str, timeout: float = 30.0) -> bytes:
        """The newest letter to `address` whose subject holds `subject_part`, waiting for it
        (other letters, such as an escalation, may reach the same person first)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.stack.messages(address)
                     if subject_part in str(parsed(m)["Subject"])]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no letter with {subject_part!r} for {address}"
            time.sleep(0.05)

    def latest(self, address: str, subject_part: str) -> bytes:
        found = [m for m in self.stack.messages(address)
                 if subject_part in str(parsed(m)["Subject"])]
        assert found, f"no letter with {subject_part!r} for {address}"
        return found[-1]

    def state(self, complaint_id: int | None) -> str:
        with transaction(self.t.app.engine) as session:
            found = session.get(Complaint, complaint_id)
            assert found is not None
            return found.state

    def events(self, kind: str) -> list[dict[str, Any]]:
        with transaction(self.t.app.engine) as session:
            found = session.exec(select(Event).where(Event.kind == kind)).all()
            return [{**json.loads(e.detail), "message_row_id": e.message_row_id,
                     "actor": e.actor} for e in found]

    def outcomes(self) -> list[str]:
        with transaction(self.t.app.engine) as session:
            return [m.outcome for m in session.exec(select(MessageRow))]

    def letters_to(self, address: str) -> list[OutboxLetter]:
        with transaction(self.t.app.engine) as session:
            return list(session.exec(select(OutboxLetter).where(OutboxLetter.to_email == address)))


MakeShop = Callable[..., Shop]


def draft_by_email(shop: Shop, text: str = RESOLUTION, **headers: str) -> bytes:
    """Staff reply to the new-complaint notice (Gmail style, signature, quote below)."""
    notice = shop.latest(shop.staff, "New complaint")
    body = f"{text}\n\n-- \nBob, Acme Bakery\n\n{gmail_quote(notice)}"
    shop.send(shop.staff, reply_to(notice, shop.staff, body, **headers))
    return notice
