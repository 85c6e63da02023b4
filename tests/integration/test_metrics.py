"""`/metrics`, `/health` and `triaged health` against a real `triaged run` process.

The daemon runs against the session's Dovecot and SMTP relay (or a private
stack that the test stops); the test sends mail by SMTP, reads the endpoints
over HTTP and runs `triaged health` as a separate process, the way Prometheus
and a monitoring agent would. Waits are bounded polls, never fixed sleeps.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.mailstack import MailStack
from tests.support.daemon import Daemon, Setup, wait_first_contact
from tests.support.fixture_types import NewAddress
from tests.support.mail import complaint_mail
from tests.support.ports import dead_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Watched:
    """A daemon with its metrics listener, and the ways an operator looks at it."""

    setup: Setup
    port: int

    def start(self) -> Daemon:
        daemon = self.setup.start()
        wait_first_contact(daemon)
        return daemon

    def get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()

    def scrape(self) -> Samples:
        status, body = self.get("/metrics")
        assert status == 200, body
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
        }

    def health(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "triaged", "--config", str(self.setup.config_path), "health",
             *args], capture_output=True, text=True, timeout=30, check=False)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), float("nan"))


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Call `check` until it returns something true; return that (fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not so after {timeout}s: {check.__doc__ or check}")
        time.sleep(0.1)


def watch(stack: MailStack, support: str, folder: Path, *, metrics: str = "") -> Watched:
    setup = Setup(stack, support, folder)
    setup.write_config(poll="1s", idle=False)
    port = dead_port()
    with setup.config_path.open("a") as config:
        config.write(f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n{metrics}\n')
    return Watched(setup, port)


@pytest.fixture
def watched(mailstack: MailStack, support_address: str, tmp_path: Path) -> Iterator[Watched]:
    made = watch(mailstack, support_address, tmp_path, metrics='send_stall_after = "2s"')
    yield made
    _stop_all(made.setup)


def _stop_all(setup: Setup) -> None:
    for daemon in setup._started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
    for daemon in setup._started:
        assert "Traceback" not in daemon.log, daemon.log


# ---- what the daemon did, as Prometheus sees it ------------------------------------------


def test_metrics_count_a_complaint_a_robot_and_a_quarantined_message(
    watched: Watched, new_address: NewAddress, mailstack: MailStack
) -> None:
    daemon = watched.start()
    customer, robot = new_address("metrics-cust"), new_address("metrics-robot")
    watched.setup.send_complaint(customer)
    auto_reply = complaint_mail(robot, watched.setup.support, "Out of office", "I am away",
                                Auto_Submitted="auto-replied")
    mailstack.append(watched.setup.support, "INBOX",
                     [auto_reply, b"Subject: no sender here\r\n\r\nbody\r\n"])
    assert len(mailstack.wait_for_messages(customer, "INBOX", 1)) == 1

    def counted() -> Samples | None:
        """the three messages counted and the holding reply recorded as sent"""
        samples = watched.scrape()
        done = (value(samples, "triaged_messages_total", mailbox="support",
                      outcome="not_complaint") == 1
                and value(samples, "triaged_messages_total", mailbox="support",
                          outcome="quarantined") == 1
                and value(samples, "triaged_outbox_waiting_letters") == 0)
        return samples if done else None

    samples = wait_until(counted)
    assert value(samples, "triaged_messages_total", mailbox="support", outcome="complaint") == 1
    assert value(samples, "triaged_messages_total", mailbox="support", outcome="duplicate") == 0
    assert value(samples, "triaged_deliveries_total", result="sent") >= 1
    assert value(samples, "triaged_deliveries_total", result="temporary") == 0
    assert value(samples, "triaged_outbox_oldest_waiting_seconds") == 0
    assert value(samples, "triaged_quarantine_open_messages") == 1
    assert value(samples, "triaged_loops_prevented_total", reason="auto-submitted") == 1
    assert value(samples, "triaged_complaints_open", state="acknowledged") == 1
    assert value(samples, "triaged_complaints_overdue", escalation_level="0") == 0
    assert value(samples, "triaged_approval_decisions_total", decision="approved") == 0
    last_poll = value(samples, "triaged_mailbox_last_poll_timestamp_seconds", mailbox="support")
    assert time.time() - 10 < last_poll <= time.time() + 1
    assert value(samples, "triaged_polls_total", mailbox="support", result="ok") >= 2
    assert value(samples, "triaged_database_up") == 1
    assert value(samples, "triaged_healthy") == 1

    status, body = watched.get("/health")
    assert status == 200, body
    assert json.loads(body)["healthy"] is True
    cli = watched.health()
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.startswith("healthy: support polled")
    assert daemon.stop() == 0


def test_the_figures_come_from_the_database_so_a_restart_keeps_them(
    watched: Watched, new_address: NewAddress, mailstack: MailStack
) -> None:
    daemon = watched.start()
    mailstack.append(watched.setup.support, "INBOX", [b"Subject: unreadable\r\n\r\nbody\r\n"])
    wait_until(lambda: value(watched.scrape(), "triaged_quarantine_open_messages") == 1)
    assert daemon.stop() == 0

    again = watched.setup.start()
    samples = watched.scrape()
    # State lives in the database; the process's own event counters start again at zero.
    assert value(samples, "triaged_quarantine_open_messages") == 1
    assert value(samples, "triaged_messages_total", mailbox="support", outcome="quarantined") == 0
    assert again.stop() == 0


# ---- health: stalls, as `triaged health` and GET /health report them -----------------------


def test_health_fails_with_the_reason_while_smtp_refuses_a_letter(
    watched: Watched, new_address: NewAddress, mailstack: MailStack
) -> None:
    daemon = watched.start()
    assert watched.health().returncode == 0
    customer = new_address("metrics-refused")
    mailstack.smtp_tempfail(customer, times=100)
    watched.setup.send_complaint(customer)
    daemon.wait_for_log(r"deferred")

    # send_stall_after = "2s": the letter, due since it was queued, is soon too old.
    result = wait_until(lambda: (r := watched.health()).returncode == 1 and r)
    assert "unhealthy" in result.stdout
    assert "sending has stalled: the oldest of 1 waiting letter(s) was queued" in result.stdout
    assert "is the SMTP server refusing" in result.stdout
    verdict = json.loads(watched.health("--json").stdout)
    assert verdict["healthy"] is False
    assert verdict["outbox"]["waiting"] == 1
    assert verdict["outbox"]["oldest_waiting_seconds"] > 2
    status, body = watched.get("/health")
    assert status == 503
    assert "sending has stalled" in body
    samples = watched.scrape()
    assert value(samples, "triaged_healthy") == 0
    assert value(samples, "triaged_deliveries_total", result="temporary") >= 1
    assert value(samples, "triaged_outbox_waiting_letters") == 1
    assert value(samples, "triaged_outbox_oldest_waiting_seconds") > 2
    assert daemon.stop() == 0
    mailstack.smtp_tempfail(customer, times=0)


def test_health_fails_when_the_imap_server_stops(
    new_address: NewAddress, tmp_path: Path
) -> None:
    # A private mail stack, so that stopping its Dovecot touches no other test.
    with MailStack() as stack:
        support = stack.add_user(f"support-stop@{stack.domain}", "pw")
        watched = watch(stack, support, tmp_path, metrics='stall_after = "4s"')
        try:
            daemon = watched.start()
            assert watched.health().returncode == 0
            stack.stop()

            result = wait_until(lambda: (r := watched.health()).returncode == 1 and r,
                                timeout=20.0)
            assert "mailbox support: polling has stalled: last successful poll" in result.stdout
            assert "(limit 4 s)" in result.stdout
            samples = watched.scrape()
            assert value(samples, "triaged_polls_total", mailbox="support", result="failed") >= 1
            assert value(samples, "triaged_healthy") == 0
            assert time.time() - value(samples, "triaged_mailbox_last_poll_timestamp_seconds",
                                       mailbox="support") > 4
            assert watched.get("/health")[0] == 503
            assert daemon.stop() == 0
        finally:
            _stop_all(watched.setup)


# ---- configuration mistakes ---------------------------------------------------------------


def test_a_public_listen_address_is_refused_unless_allowed(
    mailstack: MailStack, support_address: str, tmp_path: Path
) -> None:
    setup = Setup(mailstack, support_address, tmp_path)
    setup.write_config()
    with setup.config_path.open("a") as config:
        config.write('\n[metrics]\nlisten = "0.0.0.0:9464"\nstall_after = "0s"\n')
    refused = subprocess.run([sys.executable, "-m", "triaged", "--config",
                              str(setup.config_path), "health"],
                             capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 2
    assert "metrics.listen: 0.0.0.0 is not a loopback address" in refused.stderr
    assert "metrics.stall_after:" in refused.stderr  # every problem at once
    assert "Traceback" not in refused.stderr


def test_the_daemon_exits_1_when_the_metrics_port_is_taken(watched: Watched) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", watched.port))
        taken.listen()
        process = subprocess.run(
            [sys.executable, "-m", "triaged", "--config", str(watched.setup.config_path), "run"],
            capture_output=True, text=True, timeout=30, check=False)
    assert process.returncode == 1
    assert f"cannot listen for metrics on 127.0.0.1:{watched.port}" in process.stderr
    assert "Traceback" not in process.stderr
