"""Mail built to be costly to read is read in seconds: its sender is registered and answered.

Each hostile message of `costly_inputs.CASES` (deep HTML nesting, unfinished
tags, runs of "@", "<", quotes and spaces, "schrieb" and "wrote:" lines,
thousands of encoded words, huge headers) goes by SMTP into the real support
mailbox, and one `triaged run --once` reads them all. Before reading was made
linear, that run did not finish within an hour; now every sender gets the
holding reply any customer gets, and nothing is quarantined for it. (A
message with a line longer than SMTP allows is put into the mailbox by IMAP,
as a relay that does not check line lengths would deliver it.) A manager's
approval with a costly line in it is still read as an approval.
"""

from __future__ import annotations

import email
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
import sqlalchemy
from sqlmodel import select

from tests.mailstack import MailStack
from tests.security.costly_inputs import CASES, deliver, run_once
from tests.support.approval import Shop, gmail_quote, outlook_quote, people, reply_to
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged, config_text
from triaged.core.references import find_in_text
from triaged.store.models import MessageRow


def parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.fixture
def support_config(mailstack: MailStack, support_address: str, tmp_path: Path) -> Path:
    secret = tmp_path / "imap.pass"
    secret.write_text(mailstack.password(support_address) + "\n")
    path = tmp_path / "triaged.toml"
    path.write_text(config_text(mailstack, support_address, tmp_path / "triaged.db", secret))
    return path


def test_every_costly_mail_is_registered_and_its_sender_answered(
    mailstack: MailStack, new_address: NewAddress, support_address: str, support_config: Path,
    tmp_path: Path,
) -> None:
    first = run_once(support_config)  # first contact: the empty mailbox is noted
    assert first.returncode == 0, first.stderr
    senders = {case.name: new_address("costly") for case in CASES}
    for case in CASES:
        sender = senders[case.name]
        deliver(mailstack, sender, support_address, case.build(sender, support_address))

    result = run_once(support_config)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'triaged.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(MessageRow.sender, MessageRow.outcome, MessageRow.reason,
                                   MessageRow.text)).all()
    engine.dispose()
    outcome = {sender: (kind, reason, text) for sender, kind, reason, text in rows}
    wrong = {name: outcome.get(sender, ("missing", "", ""))[:2]
             for name, sender in senders.items()
             if outcome.get(sender, ("missing",))[0] != "complaint"}
    assert wrong == {}, "every costly mail is a complaint, none quarantined"
    unanswered = []
    for name, sender in senders.items():
        [reply] = mailstack.wait_for_messages(sender, "INBOX", 1)
        if not find_in_text(str(parsed(reply)["Subject"])):
            unanswered.append(name)
    assert unanswered == [], "each sender got a holding reply with its reference"
    # Staff read the customer's words, whatever the markup around them.
    unread = [name for name, sender in senders.items()
              if name.startswith("html") and "My cake arrived crushed." not in outcome[sender][2]]
    assert unread == []


@pytest.fixture
def shop(make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
         tmp_path: Path) -> Shop:
    key = tmp_path / "approval.key"
    key.write_text("costly-mail-approval-secret\n")
    staff, dana, erin, boss = (new_address(p) for p in ("team", "dana", "erin", "boss"))
    t = make_triaged(tail=people(staff, dana, erin, boss, key))
    t.cycle()  # first contact with the empty mailbox
    return Shop(t, mailstack, staff, dana, erin, boss, new_address("maria"))


def body_of(data: bytes) -> str:
    part = parsed(data).get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.mark.parametrize("costly_line", ["schrieb" * 28_500, "<" + "a@" * 99_990 + ":",
                                         "On 1 Jan wrote" + " " * 190_000 + "x"],
                         ids=["schrieb-run", "address-run", "wrote-then-spaces"])
def test_a_managers_approval_with_a_costly_line_in_it_is_still_read_as_an_approval(
    shop: Shop, costly_line: str
) -> None:
    """The reply runs through the same cycle `run --once` runs, on the shop's frozen clock."""
    complaint = shop.complain()
    notice = shop.latest(shop.staff, "New complaint")
    draft = "Wir erstatten den vollen Preis und liefern am Freitag eine neue Torte."
    shop.send(shop.staff, reply_to(notice, shop.staff,
                                   f"{draft}\n\n-- \nBob\n\n{gmail_quote(notice)}"))
    [request] = shop.inbox(shop.dana, 1)

    shop.send(shop.dana, reply_to(request, shop.dana,
                                  f"APPROVE\n\n{costly_line}\n\n{outlook_quote(request)}"))

    assert shop.state(complaint.id) == "resolved"
    [approved] = shop.events("approved")
    assert approved["actor"] == shop.dana
    final = shop.inbox(shop.customer, 2)[1]
    assert draft in body_of(final)
    assert shop.outcomes() == ["complaint", "approval_reply", "approval_reply"]
