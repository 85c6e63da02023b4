"""`triaged run` as a real process against the session's Dovecot and SMTP relay.

Each test starts `python -m triaged --config PATH run`, talks to it only by
mail and by signals, and reads its log (stderr) and its SQLite database.
Waits are bounded; nothing sleeps for a poll interval.
"""

from __future__ import annotations

import email
import os
import re
import signal
import socket
import tempfile
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest

from tests.mailstack import MailStack
from tests.support.daemon import Setup, wait_first_contact
from tests.support.escalation import ROUND_THE_CLOCK, people
from tests.support.fixture_types import NewAddress
from tests.support.installation import config_text
from tests.support.ports import dead_port
from triaged import app as wiring
from triaged.config.loading import load
from triaged.domain.records import LetterState


def reply_text(data: bytes) -> str:
    msg = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# ---- IDLE ------------------------------------------------------------------------------


@pytest.mark.parametrize(("idle", "arrives_within"), [
    (True, 5.0),    # Dovecot tells IDLE clients ~0.5 s after delivery
    (False, None),  # poll_interval = 60s: nothing else can bring it in seconds
])
def test_idle_brings_the_holding_reply_long_before_the_poll_interval(
    setup: Setup, new_address: NewAddress, mailstack: MailStack, idle: bool,
    arrives_within: float | None,
) -> None:
    setup.write_config(poll="60s", idle=idle)
    daemon = setup.start()
    wait_first_contact(daemon)
    customer = new_address("idle")
    sent = time.monotonic()
    setup.send_complaint(customer)

    if arrives_within is None:
        with pytest.raises(TimeoutError):
            mailstack.wait_for_messages(customer, "INBOX", 1, timeout=3.0)
    else:
        [reply] = mailstack.wait_for_messages(customer, "INBOX", 1, timeout=arrives_within)
        assert time.monotonic() - sent < arrives_within
        assert "Acme Bakery" in reply_text(reply)
    assert daemon.stop() == 0


# ---- SIGTERM ---------------------------------------------------------------------------


def test_sigterm_sends_the_letters_that_are_due_before_exiting(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config(poll="60s", idle=False)
    customer = new_address("due")
    # A letter is queued by an earlier run that stopped before sending it.
    app = wiring.build(load(setup.config_path))
    try:
        [poller] = app.pollers
        poller.poll()  # first contact
        setup.send_complaint(customer)
        mailstack.wait_for_messages(setup.support, "INBOX", 1)
        assert poller.poll().counts == {"complaint": 1}
    finally:
        app.close()
        app.engine.dispose()
    assert [letter.state for letter in setup.letters()] == [LetterState.QUEUED]

    # The send job's first tick is 5 s away: only the drain on SIGTERM sends it.
    daemon = setup.start()
    assert daemon.stop() == 0

    assert [letter.state for letter in setup.letters()] == [LetterState.SENT]
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1
    assert re.search(r"stopping.*\n(.*\n)*.*stopped", daemon.log)


def test_sigterm_right_after_a_poll_loses_nothing_and_a_restart_finishes_the_work(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config(poll="1s")
    daemon = setup.start()
    wait_first_contact(daemon)
    customers = [new_address("term") for _ in range(3)]
    for customer in customers:
        setup.send_complaint(customer)
    daemon.wait_for_log(r"support: \d+ complaint")
    assert daemon.stop() == 0
    assert "stopped" in daemon.log

    # Every complaint that left the inbox is in the database, and vice versa.
    inbox = len(mailstack.folder_uids(setup.support, "INBOX").uids)
    processed = len(mailstack.messages(setup.support, "Triaged"))
    assert inbox + processed == 3
    assert len(setup.complaints()) == processed
    # Whatever was registered was answered or is still queued: nothing vanished.
    assert {lt.state for lt in setup.letters()} <= {LetterState.QUEUED, LetterState.SENT}
    assert len(setup.letters()) == processed

    again = setup.start()
    for customer in customers:
        assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1
    assert again.stop() == 0
    assert len(setup.complaints()) == 3
    assert [lt.state for lt in setup.letters()] == [LetterState.SENT] * 3
    for customer in customers:
        assert len(mailstack.messages(customer)) == 1  # no duplicate letters


def test_sigterm_while_smtp_refuses_keeps_the_letter_queued_and_exits_promptly(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config(poll="1s")
    daemon = setup.start()
    wait_first_contact(daemon)
    customer = new_address("tempfail")
    mailstack.smtp_tempfail(customer, times=100)
    setup.send_complaint(customer)
    daemon.wait_for_log(r"deferred")

    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 5.0

    [letter] = setup.letters()
    assert letter.state == LetterState.QUEUED
    assert letter.attempts >= 1
    assert len(setup.complaints()) == 1
    mailstack.smtp_tempfail(customer, times=0)


# ---- SIGHUP ----------------------------------------------------------------------------


def test_sighup_applies_a_changed_business_name_and_replaces_the_idle_watcher(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config(poll="60s")
    daemon = setup.start()
    wait_first_contact(daemon)
    setup.write_config(poll="60s", name="Crumb and Co")
    for reloads in (1, 2, 3):
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_log(r"configuration and templates reloaded", reloads)

    customer = new_address("renamed")
    setup.send_complaint(customer)
    # With poll_interval = 60s, a quick reply proves the new IDLE watcher works.
    [reply] = mailstack.wait_for_messages(customer, "INBOX", 1, timeout=5.0)
    assert "Crumb and Co" in reply_text(reply)
    assert "Acme Bakery" not in reply_text(reply)
    assert len(re.findall(r"reloaded", daemon.log)) == 3
    # Old watchers and poll connections were closed: one poll and one IDLE remain.
    deadline = time.monotonic() + 5.0
    while setup.imap_sessions(setup.support) != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert setup.imap_sessions(setup.support) == 2
    assert daemon.stop() == 0


def test_sighup_adds_a_second_mailbox(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config()
    daemon = setup.start()
    wait_first_contact(daemon)
    second = new_address("support-second")
    setup.write_config(extra_mailbox=second)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log(r"configuration and templates reloaded")
    wait_first_contact(daemon, 2)

    customer = new_address("second-cust")
    setup.send_complaint(customer, to=second)
    [reply] = mailstack.wait_for_messages(customer, "INBOX", 1)
    assert second in email.message_from_bytes(reply)["From"]
    assert daemon.stop() == 0


def test_sighup_with_a_bad_config_lists_the_problems_and_keeps_running(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config()
    daemon = setup.start()
    wait_first_contact(daemon)
    setup.write_config(name="Never Applied", broken=True)
    daemon.signal(signal.SIGHUP)
    text = daemon.wait_for_log(r"reload refused")

    assert "timezone" in text
    assert "poll_interval" in text
    assert "reloaded" not in text
    customer = new_address("after-bad")
    setup.send_complaint(customer)
    [reply] = mailstack.wait_for_messages(customer, "INBOX", 1)
    assert "Acme Bakery" in reply_text(reply)
    assert daemon.process.poll() is None
    assert daemon.stop() == 0


# ---- outages ---------------------------------------------------------------------------


def test_unreachable_imap_is_one_error_line_then_a_reload_recovers(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    setup.write_config(port=dead_port())
    daemon = setup.start(verbose=True)
    # The second failed attempt comes after the first back-off pause (5 s).
    text = daemon.wait_for_log(r"mailbox support still failing \(2 failures\)", timeout=15.0)

    errors = [line for line in text.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1, errors
    assert "connection refused" in errors[0]
    assert "retrying with back-off" in errors[0]
    assert daemon.process.poll() is None

    setup.write_config()
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log(r"mailbox support reachable again after \d+ failed attempt")
    wait_first_contact(daemon)
    customer = new_address("recovered")
    setup.send_complaint(customer)
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1
    assert daemon.stop() == 0


# ---- systemd -----------------------------------------------------------------------


def test_systemd_is_told_ready_reloading_and_stopping(setup: Setup) -> None:
    setup.write_config()
    with tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as folder:
        path = str(Path(folder) / "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(path)
            sock.settimeout(10.0)
            daemon = setup.start(env={**os.environ, "NOTIFY_SOCKET": path})
            assert next_state(sock) == b"READY=1"
            daemon.signal(signal.SIGHUP)
            assert next_state(sock).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
            assert next_state(sock) == b"READY=1"
            assert daemon.stop() == 0
            assert next_state(sock) == b"STOPPING=1"


def next_state(sock: socket.socket) -> bytes:
    """The next datagram's state changes, without the STATUS= line riding along;
    datagrams that carry only STATUS= (test_systemd.py reads those) are skipped."""
    while True:
        lines = [x for x in sock.recv(4096).split(b"\n") if not x.startswith(b"STATUS=")]
        if lines:
            return b"\n".join(lines)



# ---- the escalation ladder in real time ---------------------------------------------------


def test_the_running_daemon_reminds_then_escalates_up_the_ladder_in_real_time(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    secret = setup.folder / "imap.pass"
    secret.write_text(mailstack.password(setup.support) + "\n")
    # Round the clock, with second-scale durations: the whole ladder in seconds.
    setup.config_path.write_text(config_text(
        mailstack, setup.support, setup.db, secret, mailbox="idle = true",
        week=ROUND_THE_CLOCK,
        sla='resolve_within = "4s"\nremind_before = "2s"\nescalate_every = "3s"',
        tail=people(team, dana, ana)))
    daemon = setup.start()
    wait_first_contact(daemon)
    customer = new_address("ladder")
    setup.send_complaint(customer, "Never arrived")
    mailstack.wait_for_messages(customer, "INBOX", 1, timeout=10.0)
    [reference] = [c.reference for c in setup.complaints()]

    [reminder] = mailstack.wait_for_messages(team, "INBOX", 1, timeout=10.0)
    [first] = mailstack.wait_for_messages(dana, "INBOX", 1, timeout=10.0)
    [second] = mailstack.wait_for_messages(ana, "INBOX", 1, timeout=10.0)

    for letter in (reminder, first, second):
        assert reference in reply_text(letter)
    assert "level-1 manager" in reply_text(first)
    assert "level-2 manager" in reply_text(second)
    assert [c.escalation_level for c in setup.complaints()] == [2]
    assert len(mailstack.messages(dana)) == 1  # one letter per level, not one per scan
    assert daemon.stop() == 0
