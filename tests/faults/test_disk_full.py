"""The disk holding the SQLite database fills up under the running daemon.

A real tmpfs of 8 MB holds the database; a file fills it to the last byte while
the daemon runs and mail arrives. What an operator and the customers notice is
checked: the daemon stays up, `triaged health` says why it is unhealthy, the mail
waits in the mailbox, and once the filler is removed every complaint is registered
once and answered once, without anyone restarting anything.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.faults.conftest import fill
from tests.support.daemon import Setup, wait_first_contact
from tests.support.fixture_types import NewAddress


class SmallDiskSetup(Setup):
    """A daemon whose database lives on the small disk (its config and log do not)."""

    disk: Path = Path()

    @property
    def db(self) -> Path:
        return self.disk / "triaged.db"


def health(setup: Setup) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triaged", "--config", str(setup.config_path),
                           "health"], capture_output=True, text=True, timeout=60, check=False)


def test_a_full_disk_stops_nothing_for_good_and_loses_no_mail(
        setup: Setup, small_disk: Path, new_address: NewAddress) -> None:
    daemon_setup = SmallDiskSetup(setup.stack, setup.support, setup.folder)
    daemon_setup.disk = small_disk
    daemon_setup._started = setup._started  # the fixture kills what is left running
    daemon_setup.write_config()
    daemon = daemon_setup.start()
    wait_first_contact(daemon)
    before = new_address("before-full")
    daemon_setup.send_complaint(before)
    daemon.wait_for_log(r"1 complaint")
    assert len(daemon_setup.stack.wait_for_messages(before, "INBOX", 1)) == 1

    filler = fill(small_disk)
    customers = [new_address("while-full") for _ in range(3)]
    for customer in customers:
        daemon_setup.send_complaint(customer, subject=f"Cake for {customer} crushed")
    text = daemon.wait_for_log(r"disk is full|database or disk is full", timeout=30)
    ill = health(daemon_setup)
    time.sleep(3)  # the daemon keeps trying meanwhile; it must not exit or loop hot

    assert daemon.process.poll() is None, "the daemon stays up"
    assert ill.returncode == 1
    assert "full" in ill.stdout, ill.stdout
    assert daemon_setup.stack.folder_uids(daemon_setup.support, "INBOX").uids, \
        "the mail waits in the mailbox"
    for customer in customers:
        assert daemon_setup.stack.messages(customer) == []

    filler.unlink()
    recovered_at = time.monotonic()
    for customer in customers:
        assert len(daemon_setup.stack.wait_for_messages(customer, "INBOX", 1, timeout=60)) == 1
    recovery = time.monotonic() - recovered_at
    well = health(daemon_setup)

    assert well.returncode == 0, well.stdout + well.stderr
    complaints = sorted(c.customer_email for c in daemon_setup.complaints())
    assert complaints == sorted([before, *customers]), "each registered once"
    assert len(daemon_setup.stack.messages(before)) == 1
    assert daemon.process.poll() is None
    errors = [line for line in daemon.log.splitlines() if " ERROR " in line or "ERROR" in line]
    assert len(errors) <= 2, text  # one line per outage and job, not one per retry
    print(f"disk full: recovered {recovery:.1f} s after the space returned")
