"""Replies carrying a token, on the real mail stack: routed, authenticated, single-use.

A test purpose ("probe") stands in for the real ones so that the machinery
every purpose shares (approval, drafts, escalation ACK / EXTEND) is tested on its
own: who may answer, forged and altered tokens, replays, expiry, another
manager's token, Authentication-Results.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.mail import complaint_mail, parsed, smtp_send
from triaged import app as wiring
from triaged.app import App
from triaged.replies.purposes import Purpose, Registry, ReplyContext
from triaged.replies.tokens import make_token
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event, MessageRow
from triaged.usecases.approval import managers

SECRET = "test approval secret"
handled: list[str] = []


def probe(ctx: ReplyContext) -> Mapping[str, Any]:
    handled.append(ctx.mail.text.strip())
    return {"probe": "done"}


def probe_registry() -> Registry:
    registry = Registry()
    registry.add(Purpose("probe", senders=managers, handle=probe))
    return registry


class Setup:
    def __init__(self, t: Triaged, stack: MailStack, dana: str, erin: str, customer: str) -> None:
        self.t, self.stack, self.dana, self.erin, self.customer = t, stack, dana, erin, customer
        t._app = wiring.build(t.config, clock=t.clock, registry=probe_registry())

    @property
    def app(self) -> App:
        return self.t.app

    def complaint(self) -> Complaint:
        smtp_send(self.stack, self.customer, self.t.support,
                  complaint_mail(self.customer, self.t.support, "Broken cake", "It broke."))
        self.t.cycle()
        with transaction(self.app.engine) as session:
            return list(session.exec(select(Complaint)))[-1]

    def token(self, complaint_id: int, recipient: str, *, secret: str = SECRET,
              ttl: timedelta = timedelta(days=14), version: int = 0) -> str:
        return make_token(secret, purpose="probe", complaint_id=complaint_id, version=version,
                          recipient=recipient, expires_at=self.t.clock.now() + ttl)

    def reply(self, sender: str, token: str, body: str = "APPROVE", **headers: str) -> None:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = f"{self.t.support.split('@')[0]}+{token}@{self.t.support.split('@')[1]}"
        msg["Subject"] = f"Re: Probe [#{token}]"
        msg["Message-ID"] = make_msgid(domain="example.test")
        for key, value in headers.items():
            msg[key.replace("_", "-")] = value
        msg.set_content(body)
        smtp_send(self.stack, sender, msg["To"], msg.as_bytes())
        self.t.cycle()

    def events(self, kind: str) -> list[dict[str, Any]]:
        with transaction(self.app.engine) as session:
            found = session.exec(select(Event).where(Event.kind == kind)).all()
            return [{**json.loads(e.detail), "message_row_id": e.message_row_id} for e in found]

    def outcomes(self) -> list[str]:
        with transaction(self.app.engine) as session:
            return [m.outcome for m in session.exec(select(MessageRow))]


@pytest.fixture
def setup(make_setup: Callable[..., Setup]) -> Setup:
    return make_setup()


@pytest.fixture
def make_setup(make_triaged: Callable[..., Triaged], new_address: NewAddress,
               mailstack: MailStack, tmp_path: Path) -> Callable[..., Setup]:
    return lambda approval="": _setup(make_triaged, new_address, mailstack, tmp_path, approval)


def _setup(make_triaged: Callable[..., Triaged], new_address: NewAddress,
           mailstack: MailStack, tmp_path: Path, approval: str) -> Setup:
    handled.clear()
    dana, erin, customer = new_address("dana"), new_address("erin"), new_address("cust")
    key = tmp_path / "approval.key"
    key.write_text(SECRET + "\n")
    t = make_triaged(tail=f"""
[[managers]]
email = "{dana}"
level = 1

[[managers]]
email = "{erin}"
level = 1

[approval]
secret_file = "{key}"
token_ttl = "14 days"
{approval}
""")
    s = Setup(t, mailstack, dana, erin, customer)
    t.cycle()  # first contact
    return s


def refusals_to(stack: MailStack, address: str, count: int) -> list[str]:
    return [str(parsed(m).get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
            for m in stack.wait_for_messages(address, "INBOX", count)]


def test_a_managers_reply_with_a_good_token_is_acted_on_once_and_a_replay_is_refused(
    setup: Setup, mailstack: MailStack
) -> None:
    complaint = setup.complaint()
    assert complaint.id is not None
    token = setup.token(complaint.id, setup.dana)

    setup.reply(setup.dana, token, "APPROVE")

    assert handled == ["APPROVE"]
    [accepted] = setup.events("reply_accepted")
    assert accepted["probe"] == "done"
    assert accepted["message_row_id"] is not None
    assert setup.outcomes() == ["complaint", "approval_reply"]
    assert mailstack.messages(setup.dana) == []  # nothing to answer

    setup.reply(setup.dana, token, "APPROVE")  # the same token again

    assert handled == ["APPROVE"]
    [refused] = setup.events("reply_refused")
    assert "already answered" in refused["reason"]
    [answer] = refusals_to(mailstack, setup.dana, 1)
    assert "already answered" in answer
    # The customer got the holding reply and nothing else.
    assert len(mailstack.messages(setup.customer)) == 1


def test_forged_altered_foreign_expired_and_misaddressed_tokens_are_refused(
    setup: Setup, mailstack: MailStack
) -> None:
    complaint = setup.complaint()
    assert complaint.id is not None
    good = setup.token(complaint.id, setup.dana)
    altered = good[:-1] + ("a" if good[-1] != "a" else "b")
    cases = [
        (setup.dana, setup.token(complaint.id, setup.dana, secret="guessed"), "does not verify"),
        (setup.dana, altered, "does not verify"),
        (setup.dana, setup.token(complaint.id, setup.dana, ttl=timedelta(seconds=-1)),
         "expired"),
        (setup.erin, good, f"sent to {setup.dana}"),  # another manager's token
    ]
    for sender, token, _why in cases:
        setup.reply(sender, token)

    assert handled == []
    reasons = [e["reason"] for e in setup.events("reply_refused")]
    assert len(reasons) == len(cases)
    for reason, (_sender, _token, why) in zip(reasons, cases, strict=True):
        assert why in reason
    assert len(refusals_to(mailstack, setup.dana, 3)) == 3
    assert len(refusals_to(mailstack, setup.erin, 1)) == 1
    assert len(mailstack.messages(setup.customer)) == 1


def test_a_non_manager_with_a_real_token_is_refused_and_only_the_manager_is_told(
    setup: Setup, mailstack: MailStack
) -> None:
    complaint = setup.complaint()
    assert complaint.id is not None

    # The customer got hold of the request (forwarded to them) and answers it.
    setup.reply(setup.customer, setup.token(complaint.id, setup.dana))

    assert handled == []
    [refused] = setup.events("reply_refused")
    assert "not allowed" in refused["reason"]
    assert refused["answered_to"] == setup.dana
    [told] = refusals_to(mailstack, setup.dana, 1)
    assert setup.customer in told
    assert len(mailstack.messages(setup.customer)) == 1  # only the holding reply


def test_an_automatic_answer_carrying_a_token_is_refused_without_a_reply(
    setup: Setup, mailstack: MailStack
) -> None:
    complaint = setup.complaint()
    assert complaint.id is not None

    setup.reply(setup.dana, setup.token(complaint.id, setup.dana), "I am away.",
                Auto_Submitted="auto-replied")

    assert handled == []
    [refused] = setup.events("reply_refused")
    assert "automatic" in refused["reason"]
    assert refused["answered_to"] == ""
    assert setup.outcomes()[-1] == "approval_reply"
    setup.t.cycle()
    assert mailstack.messages(setup.dana) == []


def test_with_authentication_results_required_only_a_dkim_or_dmarc_pass_counts(
    make_setup: Callable[..., Setup], mailstack: MailStack
) -> None:
    setup = make_setup('require_authentication_results = true\nauthserv_id = "mx.test"')
    complaint = setup.complaint()
    assert complaint.id is not None
    domain = setup.dana.rpartition("@")[2]

    setup.reply(setup.dana, setup.token(complaint.id, setup.dana))  # no header at all
    setup.reply(setup.dana, setup.token(complaint.id, setup.dana, version=1),
                Authentication_Results=f"mx.test; dkim=fail header.d={domain}")
    setup.reply(setup.dana, setup.token(complaint.id, setup.dana, version=2),
                Authentication_Results=f"mx.other; dkim=pass header.d={domain}")
    assert handled == []
    reasons = [e["reason"] for e in setup.events("reply_refused")]
    assert len(reasons) == 3
    assert "no Authentication-Results from mx.test" in reasons[0]
    assert "dkim=fail" in reasons[1]
    assert "no Authentication-Results from mx.test" in reasons[2]
    assert len(refusals_to(mailstack, setup.dana, 3)) == 3

    setup.reply(setup.dana, setup.token(complaint.id, setup.dana, version=3),
                Authentication_Results=f"mx.test; dkim=pass header.d={domain}")
    assert handled == ["APPROVE"]
