"""PostgreSQL goes away under the running daemon and comes back.

A private cluster (tests/pgserver.py) is stopped with a fast shutdown, which cuts
every session as a restart or a failover does, while mail arrives; then it is
started again on the same port. The daemon must stay up, `triaged health` must
say the database is away, the mail must wait in the mailbox, and once the server
is back every complaint is registered once and answered once, with no restart
of the daemon.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from sqlmodel import select

from tests.pgserver import PostgresServer, find_binaries
from tests.support.daemon import Setup, wait_first_contact
from tests.support.fixture_types import NewAddress
from triaged.store.db import make_engine, transaction
from triaged.store.models import Complaint


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A cluster of this test's own: the session's is shared and must not be stopped."""
    if find_binaries() is None:
        pytest.skip("no PostgreSQL server binaries: `bash scripts/install-system-deps.sh`")
    with PostgresServer() as server:
        yield server


def health(setup: Setup) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triaged", "--config", str(setup.config_path),
                           "health"], capture_output=True, text=True, timeout=60, check=False)


def customers_registered(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            return sorted(c.customer_email for c in session.exec(select(Complaint)))
    finally:
        engine.dispose()


def test_a_postgresql_restart_loses_and_duplicates_nothing_and_needs_no_restart_of_ours(
        setup: Setup, own_postgres: PostgresServer, new_address: NewAddress) -> None:
    url = own_postgres.create_database("faults")
    setup.write_config()
    text = setup.config_path.read_text()
    setup.config_path.write_text(re.sub(r'(?m)^url = "sqlite:///.*"$', f'url = "{url}"', text))
    daemon = setup.start()
    wait_first_contact(daemon)
    before = new_address("before-restart")
    setup.send_complaint(before)
    assert len(setup.stack.wait_for_messages(before, "INBOX", 1)) == 1

    own_postgres.halt()
    customers = [new_address("while-away") for _ in range(3)]
    for customer in customers:
        setup.send_complaint(customer, subject=f"Cake for {customer} crushed")
    daemon.wait_for_log(r"ERROR", timeout=30)
    ill = health(setup)
    time.sleep(3)  # the daemon keeps trying meanwhile; it must not exit

    assert daemon.process.poll() is None, "the daemon stays up"
    assert ill.returncode == 1
    assert "database" in ill.stdout, ill.stdout
    for customer in customers:
        assert setup.stack.messages(customer) == []

    own_postgres.resume()
    back = time.monotonic()
    for customer in customers:
        assert len(setup.stack.wait_for_messages(customer, "INBOX", 1, timeout=60)) == 1
    recovery = time.monotonic() - back
    well = health(setup)

    assert well.returncode == 0, well.stdout + well.stderr
    assert customers_registered(url) == sorted([before, *customers]), "each registered once"
    for customer in [before, *customers]:
        assert len(setup.stack.messages(customer)) == 1, "each answered once"
    assert daemon.process.poll() is None
    assert daemon.stop() == 0
    print(f"postgresql restart: answered {recovery:.1f} s after the server was back")
