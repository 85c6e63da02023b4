"""The IMAP server drops the daemon's connections in the middle of a batch, and the
processed folder is deleted under the running daemon.

`doveadm kick` ends every session of the support mailbox at once, as a server
restart does to its clients, while the daemon fetches, reads and moves a backlog;
it is done again and again until the backlog is gone. Already covered elsewhere
(tests/integration/test_robustness.py): a folder recreated with a new UIDVALIDITY,
new mail at old UIDs after a migration, and the server unreachable between polls.
"""

from __future__ import annotations

import subprocess
import threading
import time

from tests.mailstack import MailStack
from tests.support.daemon import Setup, wait_first_contact
from tests.support.fixture_types import NewAddress
from tests.support.mail import complaint_mail

# Under the default hourly cap of 100 automatic letters, so each customer is answered.
BACKLOG = 90


def kick(stack: MailStack, user: str) -> None:
    subprocess.run(["doveadm", "-c", str(stack.dir / "etc" / "dovecot.conf"), "kick", user],
                   capture_output=True, check=False, timeout=30)


def test_connections_cut_again_and_again_mid_batch_lose_and_duplicate_nothing(
        setup: Setup, new_address: NewAddress) -> None:
    stack = setup.stack
    setup.write_config()
    daemon = setup.start()
    wait_first_contact(daemon)
    customers = [new_address("cut") for _ in range(BACKLOG)]
    # The backlog arrives at once (one APPEND), so the daemon meets it mid-batch.
    stack.append(setup.support, "INBOX", [complaint_mail(c, setup.support, f"Order {i}",
                                                         "Crushed.")
                                          for i, c in enumerate(customers)])
    stop = threading.Event()
    kicks = 0

    def keep_kicking() -> None:
        nonlocal kicks
        while not stop.is_set():
            kick(stack, setup.support)
            kicks += 1
            stop.wait(0.4)

    kicker = threading.Thread(target=keep_kicking)
    kicker.start()
    started = time.monotonic()
    try:
        deadline = started + 120
        while len(setup.complaints()) < BACKLOG and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        kicker.join()
    for customer in customers:
        assert len(stack.wait_for_messages(customer, "INBOX", 1, timeout=60)) == 1
    took = time.monotonic() - started
    time.sleep(2)  # whatever was owed is done by now

    assert sorted(c.customer_email for c in setup.complaints()) == sorted(customers)
    for customer in customers:
        assert len(stack.messages(customer)) == 1, customer
    assert stack.folder_uids(setup.support, "INBOX").uids == []
    assert len(stack.folder_uids(setup.support, "Triaged").uids) == BACKLOG
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    print(f"imap cuts: {kicks} kicks; {BACKLOG} answered in {took:.1f} s")


def test_the_processed_folder_deleted_under_the_daemon_is_made_again(
        setup: Setup, new_address: NewAddress) -> None:
    stack = setup.stack
    setup.write_config()
    daemon = setup.start()
    wait_first_contact(daemon)
    first = new_address("before")
    setup.send_complaint(first)
    assert len(stack.wait_for_messages(first, "INBOX", 1)) == 1
    stack.wait_for_messages(setup.support, "Triaged", 1)

    with stack.imap_client(setup.support) as client:
        client.delete_folder("Triaged")
    after = [new_address("after") for _ in range(3)]
    for customer in after:
        setup.send_complaint(customer)
    for customer in after:
        assert len(stack.wait_for_messages(customer, "INBOX", 1, timeout=30)) == 1
    time.sleep(2)

    assert sorted(c.customer_email for c in setup.complaints()) == sorted([first, *after])
    for customer in [first, *after]:
        assert len(stack.messages(customer)) == 1
    assert stack.folder_uids(setup.support, "INBOX").uids == [], "nothing left unmoved"
    assert len(stack.folder_uids(setup.support, "Triaged").uids) == 3
    assert "the processed folder 'Triaged' was deleted on the server" in daemon.log
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
