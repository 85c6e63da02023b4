"""A mail that takes long to read must not stall the mailbox, nor a process stopped on it.

Hostile mail goes by SMTP into the support mailbox of the session's Dovecot;
`triaged run --once` runs as a process of its own, so it can be killed for real.
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.mailstack import MailStack
from tests.security.poison_mail import (
    Store,
    run_once,
    send,
    slow_mail,
    start_daemon,
    wait_delivered,
)
from tests.support.fixture_types import NewAddress
from tests.support.installation import config_text
from tests.support.mail import complaint_mail
from tests.support.notify import NotifySocket


def install(stack: MailStack, support: str, folder: Path, limits: str) -> tuple[Path, Store]:
    secret = folder / "imap.pass"
    secret.write_text(stack.password(support) + "\n")
    config = folder / "config.toml"
    config.write_text(config_text(stack, support, folder / "triaged.db", secret,
                                  tail=f"[limits]\n{limits}\n"))
    # First contact: mail already in the folder then would be left alone.
    assert run_once(config, folder / "triaged.log").wait(60) == 0
    return config, Store(folder / "triaged.db")


def test_a_slow_mail_is_quarantined_and_the_complaint_behind_it_answered_in_the_same_run(
    mailstack: MailStack, new_address: NewAddress, support_address: str, tmp_path: Path
) -> None:
    config, store = install(mailstack, support_address, tmp_path, 'message_budget = "1s"')
    attacker, customer = new_address("attacker"), new_address("customer")
    send(mailstack, attacker, support_address, slow_mail(attacker, support_address))
    send(mailstack, customer, support_address,
         complaint_mail(customer, support_address, "Cake arrived crushed", "It was crushed."))
    wait_delivered(mailstack, support_address, 2)

    assert run_once(config, tmp_path / "triaged.log").wait(120) == 0

    assert store.quarantine_reasons() == [
        "took longer than 1 s to read; quarantined so the mailbox keeps moving"]
    assert store.customers() == [customer]
    letters = mailstack.wait_for_messages(customer, count=1)
    assert len(letters) == 1
    assert mailstack.messages(support_address) == []  # both moved: the mailbox moved on

    # Staff can still have it read, given the time it needs.
    replayed = subprocess.run(
        [sys.executable, "-m", "triaged", "--config", str(config), "quarantine", "replay", "1",
         "--budget", "300s"], capture_output=True, text=True, timeout=300, check=False)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.strip() == "quarantine entry 1 replayed: complaint"
    assert sorted(store.customers()) == sorted([customer, attacker])


def test_a_mail_the_process_is_killed_on_three_times_is_quarantined_unread_the_fourth(
    mailstack: MailStack, new_address: NewAddress, support_address: str, tmp_path: Path
) -> None:
    # The budget is generous: what stops the process here is SIGKILL (the OOM killer,
    # systemd's watchdog), not the budget.
    config, store = install(mailstack, support_address, tmp_path,
                            'message_budget = "300s"\nstops_before_quarantine = 3')
    before, attacker, after = (new_address("before"), new_address("attacker"),
                               new_address("after"))
    send(mailstack, before, support_address,
         complaint_mail(before, support_address, "Late delivery", "It came a day late."))
    wait_delivered(mailstack, support_address, 1)
    send(mailstack, attacker, support_address, slow_mail(attacker, support_address))
    wait_delivered(mailstack, support_address, 2)
    send(mailstack, after, support_address,
         complaint_mail(after, support_address, "Wrong cake", "I ordered chocolate."))
    wait_delivered(mailstack, support_address, 3)
    slow_uid = sorted(mailstack.folder_uids(support_address).uids)[1]

    for stops in range(3):
        process = run_once(config, tmp_path / "triaged.log")
        deadline = time.monotonic() + 120
        # The mail before it was read; the slow one is in flight again: kill the process.
        while store.in_flight() != [(slow_uid, stops)]:
            assert process.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "the slow mail was never begun"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        assert store.customers() == []  # nothing of the batch was committed

    assert run_once(config, tmp_path / "triaged.log").wait(120) == 0

    assert store.quarantine_reasons() == [
        "the process stopped 3 times while reading it; quarantined so the mailbox keeps moving"]
    assert sorted(store.customers()) == sorted([before, after])
    assert Counter(store.letters_to()) == Counter({before: 1, after: 1})
    for customer in (before, after):
        assert len(mailstack.wait_for_messages(customer, count=1)) == 1
    assert mailstack.messages(support_address) == []


def test_the_daemon_keeps_pinging_the_watchdog_and_answers_the_next_complaint_meanwhile(
    mailstack: MailStack, new_address: NewAddress, support_address: str, tmp_path: Path
) -> None:
    secret = tmp_path / "imap.pass"
    secret.write_text(mailstack.password(support_address) + "\n")
    config = tmp_path / "config.toml"
    config.write_text(config_text(mailstack, support_address, tmp_path / "triaged.db", secret,
                                  mailbox="idle = true",
                                  tail='[limits]\nmessage_budget = "1s"\n'))
    store = Store(tmp_path / "triaged.db")
    notify = NotifySocket(tmp_path)
    watchdog = 2.0
    daemon = start_daemon(config, tmp_path / "daemon.log",
                          {"NOTIFY_SOCKET": notify.path,
                           "WATCHDOG_USEC": str(int(watchdog * 1_000_000))})
    try:
        attacker, customer = new_address("attacker"), new_address("customer")
        sent_at = time.monotonic()
        send(mailstack, attacker, support_address, slow_mail(attacker, support_address))
        send(mailstack, customer, support_address,
             complaint_mail(customer, support_address, "Cake arrived crushed", "Crushed."))
        assert len(mailstack.wait_for_messages(customer, count=1, timeout=60)) == 1
        answered_at = time.monotonic()
        # systemd would have killed a daemon silent for a whole watchdog interval.
        pings = [sent_at, *(t for t in notify.pings() if sent_at <= t <= answered_at),
                 answered_at]
        gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
        assert max(gaps) < watchdog, gaps
        assert store.quarantine_reasons() == [
            "took longer than 1 s to read; quarantined so the mailbox keeps moving"]
        log = (tmp_path / "daemon.log").read_text(errors="replace")
        assert "watchdog" not in log.replace("systemd watchdog every", "")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        notify.close()
    assert "Traceback" not in (tmp_path / "daemon.log").read_text(errors="replace")
