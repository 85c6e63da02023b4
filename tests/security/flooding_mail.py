"""Hostile mail for the flooding tests, sent by SMTP into the support mailbox, and what
the victim and staff then find in their own mailboxes."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.installation import Triaged
from tests.support.mail import complaint_mail, parsed, smtp_send
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event

BOUNCES = Path(__file__).resolve().parents[1] / "data" / "bounces"



def tail(team: str = "", **limits: int) -> str:
    """Config for `[staff] notify = [team]` and `[limits]` keys."""
    text = f'\n[staff]\nnotify = ["{team}"]\n' if team else ""
    if limits:
        text += "\n[limits]\n" + "".join(f"{key} = {value}\n" for key, value in limits.items())
    return text


def send(stack: MailStack, envelope_from: str, to: str, data: bytes) -> None:
    smtp_send(stack, envelope_from, to, data, helo="evil.example")


def forge_complaints(stack: MailStack, t: Triaged, senders: list[str], *,
                     subject: str = "Order") -> None:
    """One complaint per `From:` in `senders`, each with its own subject and text."""
    for n, sender in enumerate(senders):
        send(stack, sender, t.support,
             complaint_mail(sender, t.support, f"{subject} {n}: cake arrived crushed",
                            f"Complaint number {n}. I want my money back."))


def soft_bounce(stack: MailStack, t: Triaged, victim: str) -> None:
    """A forged "mailbox full" (5.2.2) report about our last letter to `victim`."""
    data = (BOUNCES / "rfc3464-postfix.eml").read_bytes()
    data = (data.replace(b"5.1.1", b"5.2.2")
            .replace(b"User unknown in virtual mailbox", b"Mailbox full, over quota in")
            .replace(b"LETTER-ID", b"<unknown.forged@evil.example>")
            .replace(b"CUSTOMER", victim.encode()))
    send(stack, "MAILER-DAEMON@mx.evil.example", t.support, data)


def inbox(stack: MailStack, address: str) -> list[EmailMessage]:
    """Every letter delivered to `address`'s mailbox."""
    return [parsed(m) for m in stack.messages(address)]


def complaints(t: Triaged) -> list[Complaint]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(Complaint).order_by(Complaint.id)))  # type: ignore[arg-type]


def suppressed_why(t: Triaged) -> list[str]:
    """The reasons of every `letter_suppressed` event, oldest first."""
    with transaction(t.app.engine) as session:
        found = session.exec(select(Event).where(Event.kind == "letter_suppressed")
                             .order_by(Event.id)).all()  # type: ignore[arg-type]
    return [str(json.loads(e.detail)["why"]) for e in found]
