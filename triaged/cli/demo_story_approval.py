"""The demo's second half: the final letter, drafted and approved by email."""

from __future__ import annotations

import email
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, localtime, make_msgid
from pathlib import Path

from triaged.adapters.smtp import MaildirTransport
from triaged.app import App
from triaged.daemon.cycle import run_cycle

Say = Callable[[str], None]
Deliver = Callable[[Path, bytes], None]
STAFF = "team@acme-bakery.example"
MANAGER = "dana@acme-bakery.example"

MANAGERS = f"""
[[managers]]
email = "{MANAGER}"
name = "Dana"
level = 1

[approval]
secret_file = "approval.key"     # signs the reply tokens in approval requests
"""


def _letters(built: App, address: str, subject_part: str) -> list[EmailMessage]:
    transport = built.sender.transport
    assert isinstance(transport, MaildirTransport)
    box = transport.mailbox_of(address) / "new"
    found = []
    for path in sorted(box.iterdir()) if box.is_dir() else []:
        msg = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        if isinstance(msg, EmailMessage) and subject_part in str(msg["Subject"]):
            found.append(msg)
    return found


def _reply(original: EmailMessage, sender: str, body: str) -> bytes:
    """What a mail client sends when `sender` presses Reply on `original`."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(original["Reply-To"] or original["From"])
    msg["Subject"] = f"Re: {original['Subject']}"
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = make_msgid(domain="acme-bakery.example")
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["References"] = str(original["Message-ID"])
    quoted = "\n".join(f"> {line}" for line in
                       str(original.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
                       .splitlines())
    msg.set_content(f"{body}\n\nOn {original['Date']}, {original['From']} wrote:\n{quoted}\n")
    return msg.as_bytes()


def approval_story(built: App, inbox: Path, deliver: Deliver, say: Say) -> None:
    request = _staff_answer(built, inbox, deliver, say)
    if request is None:
        return
    _forged_approval(built, inbox, deliver, say, request)
    say("7. Dana replies APPROVE from her phone; Maria gets the final letter:")
    deliver(inbox, _reply(request, MANAGER, "APPROVE\n\nSent from my iPhone"))
    run_cycle(built)
    finals = _letters(built, "maria@customer.example", "Birthday cake")
    if len(finals) < 2:
        say("   (no final letter reached Maria)")
        return
    final = finals[-1]
    for name in ("Subject", "In-Reply-To", "Content-Language"):
        say(f"   | {name}: {final[name]}")
    body = str(final.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    for line in body.strip().splitlines():
        say(f"   | {line}")


def _staff_answer(built: App, inbox: Path, deliver: Deliver,
                  say: Say) -> EmailMessage | None:
    """Staff reply to the notice; returns the approval request it brings Dana (None: none)."""
    say("5. Staff answer the new-complaint notice with what they will do:")
    notices = _letters(built, STAFF, "Birthday cake")
    if not notices:
        say("   (no notice reached staff)")
        return None
    deliver(inbox, _reply(notices[0], STAFF, "We will bake a new cake and deliver it free of "
                          "charge on Saturday morning, and refund the delivery fee.\n\n-- \nBob"))
    run_cycle(built)
    requests = _letters(built, MANAGER, "Approval needed")
    if not requests:
        say("   (no approval request reached the manager)")
        return None
    request = requests[0]
    say(f"   the manager Dana gets: {request['Subject']}")
    say(f"   | Reply-To: {request['Reply-To']}")
    say("   (the token in Reply-To, Message-ID and subject is bound to Dana, this complaint")
    say("    and this version; replies without it, or from anyone else, are refused)")
    say("")
    return request


def _forged_approval(built: App, inbox: Path, deliver: Deliver, say: Say,
                     request: EmailMessage) -> None:
    say("6. A forged approval (From: Dana, but no token) is refused and Dana is told:")
    forged = EmailMessage()
    forged["From"] = MANAGER
    forged["To"] = "support@acme-bakery.example"
    forged["Subject"] = str(request["Subject"]).split(" [#")[0]
    forged["Message-ID"] = make_msgid(domain="evil.example")
    forged.set_content("APPROVE")
    deliver(inbox, forged.as_bytes())
    run_cycle(built)
    for refusal in _letters(built, MANAGER, "Not accepted"):
        text = str(refusal.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        reason = [line.strip() for line in text.splitlines() if line.startswith("    ")]
        say(f"   | {reason[0] if reason else refusal['Subject']}")
    say("")
