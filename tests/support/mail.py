"""Mail as the tests write, send and read it: a customer's complaint, SMTP delivery,
parsing, and the plain-text body of a letter."""

from __future__ import annotations

import email
import itertools
import smtplib
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid

from tests.mailstack import MailStack
from tests.support.installation import MONDAY_10_BUCHAREST

_ids = itertools.count(1)


def complaint_mail(
    sender: str, to: str, subject: str, body: str, *, name: str = "", **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    msg["Message-ID"] = make_msgid(idstring=f"t{next(_ids)}", domain="customer.example")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def smtp_send(stack: MailStack, sender: str, to: str | list[str], data: bytes, *,
              helo: str | None = "customer.example") -> None:
    """Deliver `data` through the stack's SMTP relay to one recipient or several,
    greeting it as `helo` (None: this machine's name)."""
    with smtplib.SMTP(stack.host, stack.smtp_port, local_hostname=helo) as smtp:
        smtp.sendmail(sender, to, data)


def parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    return msg


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())
