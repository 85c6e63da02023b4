"""The installed `triaged` script, as systemd runs it, starts its reading workers lean.

multiprocessing re-runs a parent's main script in the process that forks the
reading workers, unless the script is a package's `__main__`. Python's import
log (PYTHONPROFILEIMPORTTIME, inherited by every process the run starts) shows
whether the command line was imported again there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mailstack import MailStack
from tests.support.daemon import Setup
from tests.support.fixture_types import NewAddress
from tests.support.mail import complaint_mail

SCRIPT = Path(sys.executable).with_name("triaged")


@pytest.mark.skipif(not SCRIPT.exists(), reason="no installed triaged script beside python")
def test_the_installed_script_does_not_import_the_command_line_again_for_its_workers(
    setup: Setup, new_address: NewAddress, mailstack: MailStack,
) -> None:
    setup.write_config(idle=False)
    command = [str(SCRIPT), "--config", str(setup.config_path), "run", "--once"]
    assert subprocess.run(command, capture_output=True, timeout=120).returncode == 0
    customer = new_address("lean")
    mailstack.append(setup.support, "INBOX",
                     [complaint_mail(customer, setup.support, "crushed cake", "It was crushed.")])

    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})

    assert done.returncode == 0, done.stderr[-2000:]
    assert len(setup.complaints()) == 1  # a message was read, so the workers ran
    imports = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    assert any("triaged.core.reading" in line for line in imports)
    cli = [line for line in imports if line.rstrip().endswith("| triaged.cli.main")]
    assert len(cli) == 1, "the command line was imported again for the reading workers"
