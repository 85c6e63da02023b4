"""What an intake test reads back: complaints, their events, letters and staff notices."""

from __future__ import annotations

import time
from email.message import EmailMessage

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.installation import Triaged
from tests.support.mail import parsed
from triaged.store import queries
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event, OutboxLetter


def staff_tail(notify: str, forwarders: tuple[str, ...] = ()) -> str:
    listed = ", ".join(f'"{f}"' for f in forwarders)
    return f'\n[staff]\nnotify = ["{notify}"]\nforwarders = [{listed}]\n'


def complaints_of(t: Triaged) -> list[Complaint]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(Complaint).order_by(Complaint.id)))  # type: ignore[arg-type]


def events_of(t: Triaged, reference: str) -> list[Event]:
    with transaction(t.app.engine) as session:
        detail = queries.complaint_detail(session, reference)
        assert detail is not None
        return detail[3]


def letters_to(t: Triaged, address: str) -> list[OutboxLetter]:
    with transaction(t.app.engine) as session:
        return [letter for letter in session.exec(select(OutboxLetter))
                if letter.to_email.lower() == address.lower()]


def notices(stack: MailStack, staff: str, phrase: str, count: int) -> list[EmailMessage]:
    """The staff letters whose subject has `phrase` (staff also hear of every new complaint)."""
    deadline = time.monotonic() + 10
    while True:
        found = [parsed(m) for m in stack.messages(staff) if phrase in str(parsed(m)["Subject"])]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
