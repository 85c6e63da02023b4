"""Helpers for the takeover tests: a shop on the real mail stack, hostile mail as an
attacker's client would write it, and what each person can see afterwards."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlmodel import select

from tests.support.approval import Shop, reply_to
from tests.support.installation import MONDAY_10_BUCHAREST
from tests.support.mail import body_text, parsed
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter

RESOLUTION = "Wir schicken Ihnen morgen eine neue Torte und erstatten die Lieferkosten."


def text_of(data: bytes) -> str:
    return body_text(parsed(data))


def mail(sender: str, to: str, subject: str, body: str, *, message_id: str = "",
         name: str = "", **headers: str) -> bytes:
    """A plain mail as a client sends it; `message_id` may be chosen (or reused)."""
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    msg["Message-ID"] = message_id or make_msgid(domain="example.test")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def inline_forward(sender: str, to: str, author: str, subject: str, body: str, *,
                   outer_subject: str = "", author_name: str = "") -> bytes:
    """A forward as Gmail writes it: a short note, then the forwarded block."""
    named = f"{author_name} <{author}>" if author_name else f"<{author}>"
    text = (f"FYI\n\n---------- Forwarded message ---------\nFrom: {named}\n"
            f"Date: Mon, Nov 23, 2026 at 9:12 AM\nSubject: {subject}\nTo: <{to}>\n\n{body}\n")
    return mail(sender, to, outer_subject or f"Fwd: {subject}", text)


def attached_forward(sender: str, to: str, author: str, subject: str, body: str) -> bytes:
    """A forward as an attached message (Thunderbird, Outlook): the original inside."""
    inner = EmailMessage()
    inner["From"] = author
    inner["To"] = to
    inner["Subject"] = subject
    inner["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    inner["Message-ID"] = make_msgid(domain="example.test")
    inner.set_content(body)
    outer = EmailMessage()
    outer["From"] = sender
    outer["To"] = to
    outer["Subject"] = f"Fwd: {subject}"
    outer["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    outer["Message-ID"] = make_msgid(domain="example.test")
    outer.set_content("FYI")
    outer.add_attachment(inner)
    return outer.as_bytes(policy=SMTP)


def respond(original: bytes, sender: str, body: str) -> bytes:
    """`sender` presses Reply on `original` and writes `body`."""
    return reply_to(original, sender, body)


def complaint_of(shop: Shop, customer: str) -> Complaint:
    with transaction(shop.t.app.engine) as session:
        found = [c for c in session.exec(select(Complaint))
                 if c.customer_email.lower() == customer.lower()]
    assert len(found) == 1, f"{len(found)} complaints of {customer}"
    return found[0]


def complaint_count(shop: Shop) -> int:
    with transaction(shop.t.app.engine) as session:
        return len(list(session.exec(select(Complaint))))


def texts_on(shop: Shop, complaint_id: int | None) -> list[tuple[str, str]]:
    """(sender, text) of every incoming message attached to the complaint."""
    with transaction(shop.t.app.engine) as session:
        return [(m.sender, m.text) for m in session.exec(
            select(MessageRow).where(MessageRow.complaint_id == complaint_id)
            .order_by(MessageRow.id))]  # type: ignore[arg-type]


def events_on(shop: Shop, complaint_id: int | None) -> list[tuple[str, dict[str, Any]]]:
    with transaction(shop.t.app.engine) as session:
        return [(e.kind, json.loads(e.detail)) for e in session.exec(
            select(Event).where(Event.complaint_id == complaint_id)
            .order_by(Event.id))]  # type: ignore[arg-type]


def letters_to(shop: Shop, address: str) -> list[OutboxLetter]:
    with transaction(shop.t.app.engine) as session:
        return [letter for letter in session.exec(select(OutboxLetter))
                if letter.to_email.lower() == address.lower()]


def subjects(shop: Shop, address: str) -> list[str]:
    return [str(parsed(m)["Subject"]) for m in shop.stack.messages(address)]


def resolve(shop: Shop) -> None:
    """Staff answer the new-complaint notice with a resolution; Dana approves it."""
    notice = shop.latest(shop.staff, "New complaint")
    shop.send(shop.staff, reply_to(notice, shop.staff, RESOLUTION))
    request = shop.latest(shop.dana, "Approval needed")
    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE"))
