"""The daemon's log as machines read it: every stderr line parsed, secrets absent.

The daemon runs as a process against the session's Dovecot and SMTP relay
with `[logging] format = "json"` or `"logfmt"`; a complaint and its
follow-up go through it, and every line it wrote must parse, with the
complaint's reference and the message's Message-ID on the lines about them.
The SMTP outage test runs in process with a frozen clock, so that the
back-off of 30 s passes at once.
"""

from __future__ import annotations

import email
import io
import json
import os
import re
import signal
import smtplib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.mailstack import MailStack
from tests.support.daemon import Setup, wait_first_contact
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged, point_at
from tests.support.logfmt import parse_logfmt
from tests.support.mail import complaint_mail, smtp_send
from tests.support.ports import dead_port
from triaged import logs

SECRET = "Hunter2-Zq9-never-logged"


def send(setup: Setup, customer: str, subject: str, **headers: str) -> str:
    """Mail `customer`'s complaint to the support address; return its Message-ID."""
    data = complaint_mail(customer, setup.support, subject, "The cake was crushed.",
                          name="Maria", **headers)
    with smtplib.SMTP(setup.stack.host, setup.stack.smtp_port) as smtp:
        smtp.sendmail(customer, [setup.support], data)
    return str(email.message_from_bytes(data)["Message-ID"])


def complaint_and_follow_up(
    setup: Setup, new_address: NewAddress, mailstack: MailStack, log_format: str,
    parse: Callable[[str], dict[str, Any]],
) -> tuple[list[dict[str, Any]], str, str, str]:
    """Run a complaint and its follow-up through the daemon; its parsed log lines,
    the reference, the complaint's and the follow-up's Message-IDs."""
    setup.write_config(log_format=log_format)
    daemon = setup.start()
    wait_first_contact(daemon)
    customer = new_address("logged")
    first = send(setup, customer, "Cake arrived crushed")
    mailstack.wait_for_messages(customer, "INBOX", 1)
    [reference] = [c.reference for c in setup.complaints()]
    follow_up = send(setup, customer, f"Re: [{reference}] Cake arrived crushed")
    daemon.wait_for_log(r"follow-up")
    assert daemon.stop() == 0
    return [parse(line) for line in daemon.log.splitlines()], reference, first, follow_up


def test_every_json_line_parses_and_lines_about_a_complaint_name_it(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    lines, reference, first, follow_up = complaint_and_follow_up(
        setup, new_address, mailstack, "json", json.loads)

    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= set(line), line
        assert line["logger"].startswith("triaged"), line
    [registered] = [x for x in lines if x["msg"].startswith("registered")]
    assert (registered["reference"], registered["message_id"]) == (reference, first)
    assert registered["logger"] == "triaged.intake"
    [attached] = [x for x in lines if x["msg"].startswith("follow-up")]
    assert (attached["reference"], attached["message_id"]) == (reference, follow_up)
    about = [x for x in lines if reference in x["msg"] or first in x["msg"]]
    assert about, "the complaint was logged"
    assert all(x.get("reference") == reference for x in about), about


def test_every_logfmt_line_parses_as_key_value_pairs(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    lines, reference, first, _ = complaint_and_follow_up(
        setup, new_address, mailstack, "logfmt", parse_logfmt)

    assert all({"ts", "level", "logger", "msg"} <= set(line) for line in lines), lines
    [registered] = [x for x in lines if x["msg"].startswith("registered")]
    assert (registered["reference"], registered["message_id"]) == (reference, first)


@pytest.mark.parametrize(("journal", "stamped"), [("", True), ("8:4711", False)])
def test_auto_writes_json_off_a_terminal_and_leaves_the_time_to_journald(
    setup: Setup, journal: str, stamped: bool
) -> None:
    setup.write_config(log_format="auto")
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    daemon = setup.start(env={**env, **({"JOURNAL_STREAM": journal} if journal else {})})
    wait_first_contact(daemon)
    assert daemon.stop() == 0

    lines = [json.loads(line) for line in daemon.log.splitlines()]
    assert len(lines) >= 4  # running, first contact, ready, stopping, stopped
    assert all(("ts" in line) is stamped for line in lines)


# ---- secrets -------------------------------------------------------------------------------


def test_a_password_the_server_echoes_back_is_redacted_from_the_log(
    mailstack: MailStack, new_address: NewAddress, tmp_path: Any
) -> None:
    # An operator pasted the password into `folder` too; Dovecot names the folder
    # it cannot find ("Mailbox doesn't exist: …"), so the error carries the password.
    made = Setup(mailstack, new_address("secretive", password=SECRET), tmp_path)
    made.write_config(idle=False, log_format="json")
    text = made.config_path.read_text()
    made.config_path.write_text(text.replace(
        f'username = "{made.support}"', f'username = "{made.support}"\nfolder = "{SECRET}"'))
    daemon = made.start(verbose=True)
    try:
        daemon.wait_for_log(r'"level": "error".*Mailbox doesn\'t exist')
        assert daemon.stop() == 0
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()

    log = daemon.log
    assert SECRET not in log
    errors = [json.loads(x) for x in log.splitlines() if '"level": "error"' in x]
    assert any("Mailbox doesn't exist: ***" in x["msg"] for x in errors), errors


# ---- outages --------------------------------------------------------------------------------


def test_an_imap_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config(port=dead_port(), idle=False, log_format="json")
    daemon = setup.start(verbose=True)
    daemon.wait_for_log(r"still failing \(2 failures\)", timeout=15.0)
    setup.write_config(idle=False, log_format="json")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log(r"reachable again")
    customer = new_address("after-outage")
    wait_first_contact(daemon)
    send(setup, customer, "After the outage")
    mailstack.wait_for_messages(customer, "INBOX", 1)  # polls went on after the recovery
    assert daemon.stop() == 0

    lines = [json.loads(x) for x in daemon.log.splitlines()]
    about = [x for x in lines if x["msg"].startswith("mailbox support") and x["level"] != "debug"]
    assert [x["level"] for x in about] == ["error", "info"], about
    assert "connection refused; retrying with back-off" in about[0]["msg"]
    assert re.search(r"reachable again after \d+ failed attempt", about[1]["msg"])


@pytest.fixture
def json_log(root_logging: None) -> io.StringIO:
    """The JSON lines of this test (root_logging puts the handlers back afterwards)."""
    stream = io.StringIO()
    logs.configure("json", "debug", stream=stream)
    return stream


def test_an_smtp_outage_is_one_line_when_it_starts_and_one_when_it_ends(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    json_log: io.StringIO,
) -> None:
    port = dead_port()
    t = make_triaged()
    point_at(t, smtp_port=port)
    t.cycle()  # first contact
    customers = [new_address("outage") for _ in range(2)]
    for c in customers:
        smtp_send(mailstack, c, [t.support], complaint_mail(c, t.support, "down", "smtp down"))

    t.cycle()                       # registered; SMTP refuses: the outage starts
    for _ in range(3):              # retried after each back-off, still refused
        t.clock.advance(timedelta(hours=2))
        t.cycle()
    received: list[bytes] = []

    class Accept:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    server = Controller(Accept(), hostname="127.0.0.1", port=port)
    server.start()
    try:
        t.clock.advance(timedelta(hours=2))
        t.cycle()                   # the server is back: the letters go out
        t.clock.advance(timedelta(hours=2))
        t.cycle()
    finally:
        server.stop()

    lines = [json.loads(x) for x in json_log.getvalue().splitlines()]
    smtp = [x for x in lines if x["logger"] == "triaged.sender" and x["level"] != "debug"]
    assert [x["level"] for x in smtp] == ["error", "info"], smtp
    assert smtp[0]["msg"].startswith("SMTP unreachable")
    assert smtp[1]["msg"] == "SMTP server reachable again"
    assert len(received) == 2
