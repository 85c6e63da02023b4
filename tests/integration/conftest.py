"""Fixtures of the integration tests: an installation for the command line and a folder
for running daemons."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailstack import MailStack
from tests.support.cli import IMAP_SECRET, Install
from tests.support.daemon import Setup
from tests.support.fixture_types import NewAddress


@pytest.fixture
def install(mailstack: MailStack, new_address: NewAddress, tmp_path: Path) -> Install:
    """An installation on disk whose support mailbox has the password IMAP_SECRET."""
    return Install(mailstack, new_address("support", password=IMAP_SECRET), tmp_path)


@pytest.fixture
def setup(mailstack: MailStack, support_address: str, tmp_path: Path) -> Iterator[Setup]:
    """A folder for `triaged run` processes; whatever they leave running is killed."""
    made = Setup(mailstack, support_address, tmp_path)
    yield made
    for daemon in made._started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
    # No scenario here may leave a traceback in the log.
    for daemon in made._started:
        assert "Traceback" not in daemon.log, daemon.log
