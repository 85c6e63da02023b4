"""What systemd hears from `triaged run`: READY=1, STATUS= and watchdog pings.

The test plays systemd: it binds the notify socket, passes NOTIFY_SOCKET and
WATCHDOG_USEC to a real daemon process, and records every datagram with the
time it arrived. Mail goes through the session's Dovecot and SMTP relay; a
wedged job is made from outside, with an SMTP server that accepts the
connection and never says a word.
"""

from __future__ import annotations

import itertools
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import STOP_TIMEOUT, Setup, wait_first_contact
from tests.support.fixture_types import NewAddress
from tests.support.notify import NotifySocket
from tests.support.ports import dead_port


@pytest.fixture
def systemd() -> Iterator[NotifySocket]:
    with tempfile.TemporaryDirectory(prefix="sd", dir="/tmp") as folder:
        made = NotifySocket(Path(folder))
        yield made
        made.close()


# ---- readiness ---------------------------------------------------------------------------


def test_ready_comes_only_after_the_first_poll_answered_with_a_status_line(
    setup: Setup, systemd: NotifySocket
) -> None:
    setup.write_config(idle=False)
    daemon = setup.start(env=systemd.env())
    _, ready = systemd.wait_for("READY=1")

    # The first poll's line was written before systemd heard READY=1.
    assert "first contact" in daemon.log
    assert "ready: the database and 1 mailbox(es) answered" in daemon.log
    assert ready == "READY=1\nSTATUS=polling 1 mailbox, 0 letters queued"
    assert daemon.stop() == 0


def test_a_mailbox_down_at_start_does_not_hold_ready_back_and_status_names_it(
    setup: Setup, systemd: NotifySocket, new_address: NewAddress
) -> None:
    # The good mailbox is "second"; "support" points at a port nobody listens on.
    setup.write_config(port=dead_port(), idle=False, extra_mailbox=new_address("second"))
    started = time.monotonic()
    daemon = setup.start(env=systemd.env())
    arrived, ready = systemd.wait_for("READY=1")

    assert arrived - started < 10.0, "ready long before START_WAIT (30 s)"
    assert "second: first contact" in daemon.log
    assert "ready, but not every mailbox answered: support unreachable" in daemon.log
    assert ready == "READY=1\nSTATUS=polling 2 mailboxes, unreachable: support, 0 letters queued"
    assert daemon.stop() == 0


# ---- the watchdog ------------------------------------------------------------------------


def test_the_watchdog_is_pinged_at_half_its_interval_while_the_jobs_run(
    setup: Setup, systemd: NotifySocket
) -> None:
    setup.write_config()
    daemon = setup.start(env=systemd.env(WATCHDOG_USEC="1000000"))
    systemd.wait_for("READY=1")
    since = time.monotonic()
    time.sleep(4.0)  # the thing measured is a rate: it needs the time to pass
    pings = systemd.pings(since)

    # Every 0.5 s: 8 in 4 s, give or take scheduling on a busy machine.
    assert 6 <= len(pings) <= 9, pings
    assert max(b - a for a, b in itertools.pairwise(pings)) < 1.0
    assert "systemd watchdog every 1 s" in daemon.log
    assert daemon.stop() == 0


def test_no_pings_when_the_watchdog_is_meant_for_another_process(
    setup: Setup, systemd: NotifySocket
) -> None:
    setup.write_config()
    daemon = setup.start(env=systemd.env(WATCHDOG_USEC="1000000", WATCHDOG_PID="1"))
    systemd.wait_for("READY=1")
    time.sleep(1.5)  # three ping intervals, had the variables been meant for us

    assert systemd.pings() == []
    assert daemon.stop() == 0


@pytest.fixture
def silent_smtp() -> Iterator[int]:
    """A port where the kernel accepts SMTP connections and nobody ever answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


def test_pings_stop_while_a_job_is_stuck_and_resume_when_it_comes_back(
    setup: Setup, systemd: NotifySocket, new_address: NewAddress, silent_smtp: int
) -> None:
    # The holding reply's SMTP connection hangs for the whole smtp.timeout (6 s),
    # three times the watchdog interval (2 s): the send job is stuck.
    setup.write_config(smtp_port=silent_smtp, smtp_timeout="6s")
    daemon = setup.start(env=systemd.env(WATCHDOG_USEC="2000000"))
    systemd.wait_for("READY=1")
    wait_first_contact(daemon)
    setup.send_complaint(new_address("wedge"))

    daemon.wait_for_log(r"job send stuck for \d+ s: no longer telling systemd", timeout=15.0)
    stuck = time.monotonic()
    daemon.wait_for_log(r"SMTP unreachable", timeout=15.0)
    daemon.wait_for_log(r"watchdog pings resumed", timeout=10.0)
    resumed = time.monotonic()
    time.sleep(2.5)  # pings come every second again
    pings = systemd.pings()

    gaps = [(a, b) for a, b in itertools.pairwise(pings) if b - a > 2.5]
    assert len(gaps) == 1, f"one silence, not {gaps}"
    (before, after) = gaps[0]
    assert before < stuck < after, "the silence is the time the job was stuck"
    assert after - before < 7.0, "the job's own timeout ended the silence"
    assert len([t for t in pings if t > resumed]) >= 2
    assert any(s.startswith("job send stuck for") for s in systemd.statuses())
    assert systemd.statuses()[-1].startswith("polling 1 mailbox, SMTP unreachable, 1 letter")
    assert daemon.process.poll() is None, "only systemd kills us; the test plays it"
    assert daemon.stop() == 0


def test_the_watchdogs_sigabrt_leaves_every_threads_stack_in_the_log(
    setup: Setup, systemd: NotifySocket
) -> None:
    setup.write_config()
    daemon = setup.start(env=systemd.env(WATCHDOG_USEC="10000000"))
    systemd.wait_for("READY=1")
    daemon.signal(signal.SIGABRT)  # what systemd sends when the pings stop
    assert daemon.process.wait(STOP_TIMEOUT) == -signal.SIGABRT

    log = daemon.log
    assert "Fatal Python error: Aborted" in log
    assert log.count("Thread 0x") >= 3, log  # main, scheduler, pinger at least
    assert "triaged/daemon/service.py" in log
