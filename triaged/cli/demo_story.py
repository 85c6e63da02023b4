"""`triaged demo`: the whole story on an embedded stack, narrated.

A temporary folder holds a Maildir the business's mail arrives in, a SQLite
database, and one Maildir per customer that our letters are delivered to. No
server is needed and nothing leaves the machine.
"""

from __future__ import annotations

import email
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sqlmodel import select

from triaged import app as wiring
from triaged.adapters.smtp import MaildirTransport
from triaged.app import App
from triaged.cli.demo_story_approval import MANAGERS, approval_story
from triaged.cli.demo_story_files import show_photo, with_photo
from triaged.config.loading import load
from triaged.config.records import Config
from triaged.daemon.cycle import run_cycle
from triaged.store import queries
from triaged.store.db import transaction
from triaged.store.models import Complaint

SUPPORT = "support@acme-bakery.example"

Say = Callable[[str], None]


DEMO_CONFIG = f"""\
# The demo's configuration: a real config file, so that `triaged --config` works on it.
[business]
name = "Acme Bakery"
timezone = "Europe/Bucharest"
country = "RO"
working_hours = ["09:00", "17:00"]
language = "en"

[[mailboxes]]
name = "support"
address = "{SUPPORT}"
maildir = "support"            # a local Maildir instead of an IMAP server
processed_folder = "Triaged"

[smtp]
deliver_to_maildir = "delivered"   # letters land in one Maildir per recipient

[database]
url = "sqlite:///triaged.db"

[sla]
resolve_within = "5 business days"

[staff]
notify = ["team@acme-bakery.example"]
""" + MANAGERS


def demo_config(root: Path) -> Config:
    path = root / "config.toml"
    path.write_text(DEMO_CONFIG)
    key = root / "approval.key"
    key.write_text(secrets.token_urlsafe(32) + "\n")
    key.chmod(0o600)
    return load(path)


def _mail(sender: str, subject: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"Acme Bakery <{SUPPORT}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(email.utils.localtime())
    msg["Message-ID"] = make_msgid(domain="customer.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def _deliver(maildir: Path, data: bytes) -> None:
    name = f"{time.time_ns()}.{os.getpid()}.demo"
    (maildir / "tmp" / name).write_bytes(data)
    os.rename(maildir / "tmp" / name, maildir / "new" / name)
    # Distinct modification times keep arrival order visible to the reader.
    time.sleep(0.002)


def _samples() -> list[tuple[str, bytes]]:
    cake = with_photo(_mail(
        "Maria Popescu <maria@customer.example>", "Birthday cake arrived crushed",
        "Hello,\n\nthe cake I ordered for my daughter's birthday (order 4471) arrived\n"
        "crushed on one side. I would like a replacement or a refund.\n\nMaria\n"))
    return [
        ("a customer's complaint, with a photo of the cake", cake),
        ("a second complaint, in Korean, HTML only, in the legacy EUC-KR charset",
         _html_only()),
        ("the same complaint delivered twice", cake),
        ("an out-of-office auto-reply", _mail(
            "Ion <ion@customer.example>", "Automatic reply: your newsletter",
            "I am out of the office until Monday.", Auto_Submitted="auto-replied")),
        ("a message with no sender at all", b"Subject: ???\r\n\r\n\x00\x01 garbage\r\n"),
    ]


def _html_only() -> bytes:
    msg = EmailMessage()
    msg["From"] = "김준호 <junho@customer.example>"
    msg["To"] = SUPPORT
    msg["Subject"] = "배달된 빵이 잘못 왔습니다"
    msg["Message-ID"] = make_msgid(domain="customer.example")
    msg.set_content("<p>호밀빵을 주문했는데 두 번이나 <b>흰 식빵</b>이 배달되었습니다. "
                    "확인 부탁드립니다.</p>", subtype="html", charset="euc-kr")
    return msg.as_bytes()


def run_demo(say: Say, verbose: bool = False) -> int:
    if not verbose:
        # The narration tells the story; per-message log lines would drown it.
        logging.getLogger("triaged").setLevel(logging.ERROR)
        logging.getLogger("mailparser").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="triaged-demo-"))
    config = demo_config(root)
    built = wiring.build(config)
    inbox = Path(config.mailboxes[0].maildir)
    say(f"Acme Bakery's support mailbox is the Maildir {inbox}")
    say(f"the database is {config.database.url}; letters are delivered under {root / 'delivered'}")
    say("")
    say("1. First contact: triaged notes where the mailbox stands and answers nothing old.")
    run_cycle(built)
    say("")
    _mail_arrives(built, config, inbox, say)
    say("")
    say("4. Maria replies to the holding reply; her mail joins the same complaint:")
    _customer_replies(built, inbox)
    report = run_cycle(built)
    say(f"   {report.tally.counts}; letters sent: {report.letters_tried}")
    with transaction(built.engine) as session:
        say(f"   messages by outcome: {queries.outcome_counts(session)}")
    say("")
    approval_story(built, inbox, _deliver, say)
    built.close()
    say("")
    say(f"Everything is kept in {root}. Look around with:")
    say(f"   triaged --config {root / 'config.toml'} list")
    say(f"   triaged --config {root / 'config.toml'} show <REFERENCE>")
    say(f"   triaged --config {root / 'config.toml'} quarantine list")
    return 0


def _mail_arrives(built: App, config: Config, inbox: Path, say: Say) -> None:
    """Deliver the sample mails, run one cycle and show what came of them."""
    say("2. Mail arrives:")
    for label, data in _samples():
        _deliver(inbox, data)
        say(f"   - {label}")
    say("")
    say("3. One cycle of `triaged run --once`:")
    report = run_cycle(built)
    for outcome, count in sorted(report.tally.counts.items()):
        say(f"   {count} × {outcome}")
    _show_complaints(built, config, say)
    _show_letter(built, say)
    show_photo(built, config.staff.notify[0], say)


def _show_complaints(built: App, config: Config, say: Say) -> None:
    from triaged.cli.views import iso, promise_stamp

    zone = config.business.timezone
    with transaction(built.engine) as session:
        rows = list(session.exec(select(Complaint).order_by(Complaint.id)))  # type: ignore[arg-type]
        say("")
        say("   registered complaints:")
        for c in rows:
            # As `list` and the letters show it: rounded up to the hour, zone named.
            due = promise_stamp(iso(c.due_at), zone)
            say(f"   [{c.reference}] {c.customer_email:<24} {c.state:<13} promised by {due}"
                f" ({zone})")
        quarantined = queries.outcome_counts(session).get("quarantined", 0)
        say(f"   quarantined: {quarantined} (kept with its reason: `triaged quarantine list`)")


def _show_letter(built: App, say: Say) -> None:
    transport = built.sender.transport
    assert isinstance(transport, MaildirTransport)
    box = transport.mailbox_of("maria@customer.example") / "new"
    files = sorted(box.iterdir())
    if not files:
        say("   (no letter reached Maria)")
        return
    letter = email.message_from_bytes(files[0].read_bytes(), policy=default_policy)
    say("")
    say(f"   the holding reply in Maria's mailbox ({box}):")
    for name in ("From", "To", "Subject", "In-Reply-To", "Auto-Submitted", "Content-Language"):
        say(f"   | {name}: {letter[name]}")
    body = letter.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    for line in str(text).strip().splitlines():
        say(f"   | {line}")
    korean = sorted((transport.mailbox_of("junho@customer.example") / "new").iterdir())
    if korean:
        reply = email.message_from_bytes(korean[0].read_bytes(), policy=default_policy)
        part = reply.get_body(preferencelist=("plain",))
        first = str(part.get_content()).strip().splitlines()[:6] if part is not None else []
        say("")
        say("   and the one to Jun-ho, in his language (the start of it):")
        for name in ("Subject", "Content-Language"):
            say(f"   | {name}: {reply[name]}")
        for line in first:
            say(f"   | {line}")


def _customer_replies(built: App, inbox: Path) -> None:
    transport = built.sender.transport
    assert isinstance(transport, MaildirTransport)
    box = transport.mailbox_of("maria@customer.example") / "new"
    letter = email.message_from_bytes(sorted(box.iterdir())[0].read_bytes(),
                                      policy=default_policy)
    _deliver(inbox, _mail(
        "Maria Popescu <maria@customer.example>", f"Re: {letter['Subject']}",
        "Thank you. I can bring the box back tomorrow if that helps.\n",
        In_Reply_To=str(letter["Message-ID"]), References=str(letter["Message-ID"])))
