"""`run --once` and the daemon over a backlog: letters leave while the backlog is
still being read.

A few hundred complaints wait in the mailbox; `triaged run --once` (or `run`)
runs as a process of its own (so it can be killed for real) against the
session's Dovecot and SMTP relay.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter

from tests.mailstack import MailStack
from tests.support.daemon import Setup
from tests.support.fixture_types import NewAddress
from tests.support.leases import cycle_past_the_lease
from tests.support.mail import complaint_mail

BACKLOG = 240


def run_once(setup: Setup) -> subprocess.Popen[bytes]:
    log = setup.folder / "run-once.log"
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "triaged", "--config",
                                 str(setup.config_path), "run", "--once"],
                                stdout=out, stderr=out)


def backlog(setup: Setup, new_address: NewAddress, mailstack: MailStack) -> list[str]:
    """First contact with the empty mailbox, then `BACKLOG` complaints in it."""
    setup.write_config(idle=False)
    # Hundreds of customers at once are the load under test, not a flood to refuse.
    setup.config_path.write_text(setup.config_path.read_text()
                                 + "\n[limits]\nauto_letters_per_hour = 0\n")
    assert run_once(setup).wait(120) == 0
    customers = [new_address("backlog") for _ in range(BACKLOG)]
    mailstack.append(setup.support, "INBOX", [
        complaint_mail(customer, setup.support, f"complaint {n}", f"text {n}")
        for n, customer in enumerate(customers)])
    return customers


def test_the_first_holding_replies_leave_before_the_last_complaint_of_a_backlog_is_registered(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    customers = backlog(setup, new_address, mailstack)

    assert run_once(setup).wait(300) == 0

    complaints, letters = setup.complaints(), setup.letters()
    assert len(complaints) == BACKLOG
    assert {letter.state for letter in letters} == {"sent"}
    assert Counter(letter.to_email for letter in letters) == Counter(customers)
    first_sent = min(letter.sent_at for letter in letters if letter.sent_at is not None)
    last_registered = max(complaint.received_at for complaint in complaints)
    assert first_sent < last_registered, "the first reply waited for the whole backlog"
    for customer in customers[:3] + customers[-3:]:
        assert len(mailstack.wait_for_messages(customer, count=1)) == 1


def sent(setup: Setup) -> int:
    return sum(1 for letter in setup.letters() if letter.state == "sent")


def test_the_daemon_sends_the_first_replies_before_the_last_complaint_of_a_backlog_is_registered(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    customers = backlog(setup, new_address, mailstack)

    daemon = setup.start()
    started = time.monotonic()
    while sent(setup) < BACKLOG:
        assert time.monotonic() - started < 120, f"{sent(setup)} of {BACKLOG} sent"
        time.sleep(0.2)
    assert daemon.stop() == 0

    complaints, letters = setup.complaints(), setup.letters()
    assert len(complaints) == BACKLOG
    assert Counter(letter.to_email for letter in letters) == Counter(customers)
    first_sent = min(letter.sent_at for letter in letters if letter.sent_at is not None)
    last_registered = max(complaint.received_at for complaint in complaints)
    assert first_sent < last_registered, "the first reply waited for the whole backlog"
    for customer in customers[:3] + customers[-3:]:
        assert len(mailstack.wait_for_messages(customer, count=1)) == 1


def test_run_once_killed_while_it_reads_and_sends_loses_nothing_and_resends_at_most_one_letter(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    customers = backlog(setup, new_address, mailstack)
    rng = random.Random(20261207)
    kills: list[float] = []
    for _ in range(3):
        before = sent(setup)
        process = run_once(setup)
        # Kill once this run's letters are leaving: reading, writing and sending at work.
        started = time.monotonic()
        while sent(setup) <= before and process.poll() is None:
            assert time.monotonic() - started < 60, "no letter ever left"
            time.sleep(0.005)
        pause = rng.uniform(0.0, 0.3)
        time.sleep(pause)
        if process.poll() is not None:
            break  # it finished first: nothing left to interrupt
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        kills.append(round(pause, 3))
    cycle_past_the_lease(setup.config_path)

    complaints = setup.complaints()
    assert len(complaints) == BACKLOG, f"kills at {kills}"
    assert max(Counter(c.subject for c in complaints).values()) == 1
    assert mailstack.folder_uids(setup.support, "INBOX").uids == []
    letters = setup.letters()
    assert Counter(letter.to_email for letter in letters) == Counter(customers)
    assert {letter.state for letter in letters} == {"sent"}
    delivered = sum(len(mailstack.messages(c)) for c in customers)
    print(f"\nrun --once killed {len(kills)} times {kills} s after its first letter left; "
          f"{delivered} letters delivered for {BACKLOG} complaints")
    assert BACKLOG <= delivered <= BACKLOG + len(kills), (
        f"{delivered} letters delivered for {BACKLOG} complaints, kills at {kills}")
    log = (setup.folder / "run-once.log").read_text(errors="replace")
    assert "Traceback" not in log
