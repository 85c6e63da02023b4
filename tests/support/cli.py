"""The `triaged` command line run as a subprocess, as an operator meets it: an installation
on disk (config files, a password file, an SQLite file) and what one command showed.

The fixture ``install`` (tests/integration/conftest.py) gives an Install with a fresh
support mailbox."""

from __future__ import annotations

import json
import os
import smtplib
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.mailstack import MailStack
from tests.support.mail import complaint_mail, parsed
from triaged import app as wiring
from triaged.config.loading import load
from triaged.core.references import find_in_text
from triaged.daemon.cycle import CycleReport, run_cycle

TRIAGED = [sys.executable, "-m", "triaged"]
IMAP_SECRET = "Imap-S3cret-Qx7"  # distinctive, so that a leak in any output is found
ROUND_THE_CLOCK = """working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
working_hours = ["00:00", "24:00"]
country = \"\""""
OFFICE_HOURS = """working_days = ["mon", "tue", "wed", "thu", "fri"]
working_hours = ["09:00", "17:00"]
country = "RO\""""


@dataclass(frozen=True)
class Result:
    """What an operator sees of one command: its exit status and both streams."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        assert self.code == 0, self.describe()
        return json.loads(self.out)

    def describe(self) -> str:
        command = " ".join(self.args)
        return f"triaged {command} -> {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}"


@dataclass
class Install:
    """One triaged installation on disk: config files, a password file, an SQLite file."""

    stack: MailStack
    support: str
    dir: Path

    @property
    def db(self) -> Path:
        return self.dir / "triaged.db"

    def config(
        self,
        name: str = "config.toml",
        *,
        imap_port: int | None = None,
        smtp_port: int | None = None,
        password: str = IMAP_SECRET,
        calendar: str = OFFICE_HOURS,
        resolve_within: str = "5 business days",
        mailbox: str = "",
        tail: str = "",
    ) -> Path:
        secret = self.dir / f"{name}.imap.pass"
        secret.write_text(password + "\n")
        path = self.dir / name
        path.write_text(f"""
[business]
name = "Acme Bakery"
timezone = "Europe/Bucharest"
{calendar}

[[mailboxes]]
name = "support"
address = "{self.support}"
host = "{self.stack.host}"
port = {imap_port or self.stack.imap_port}
security = "plain"
username = "{self.support}"
password_file = "{secret}"
poll_interval = "1s"
{mailbox}

[smtp]
host = "{self.stack.host}"
port = {smtp_port or self.stack.smtp_port}
security = "plain"
timeout = "5s"

[database]
url = "sqlite:///{self.db}"

[sla]
resolve_within = "{resolve_within}"
{tail}
""")
        return path

    def command(self, config: Path | None, args: Sequence[str]) -> list[str]:
        return [*TRIAGED, *(["--config", str(config)] if config else []), *args]

    def run(self, config: Path | None, *args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> Result:
        [result] = self.many([(config, args)], env=env, timeout=timeout)
        return result

    def many(self, commands: Sequence[tuple[Path | None, Sequence[str]]],
             env: dict[str, str] | None = None, timeout: float = 60) -> list[Result]:
        """Run independent commands side by side; results in the same order."""
        environment = {k: v for k, v in os.environ.items() if k != "TRIAGED_CONFIG"}
        environment.update(env or {})
        started = [
            (tuple(args), subprocess.Popen(self.command(config, args), stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True, cwd=self.dir,
                                           env=environment))
            for config, args in commands
        ]
        results = []
        for args, process in started:
            out, err = process.communicate(timeout=timeout)
            results.append(Result(args, process.returncode, out, err))
        return results

    def cycle(self, config: Path) -> CycleReport:
        """One `run --once` cycle in this process: for setting the scene quickly."""
        built = wiring.build(load(config))
        try:
            return run_cycle(built)
        finally:
            built.close()
            built.engine.dispose()

    def send(self, sender: str, subject: str, body: str, *, name: str = "") -> bytes:
        data = complaint_mail(sender, self.support, subject, body, name=name)
        with smtplib.SMTP(self.stack.host, self.stack.smtp_port,
                          local_hostname="customer.example") as smtp:
            smtp.sendmail(sender, [self.support], data)
        return data


def reference_in_reply(stack: MailStack, customer: str) -> str:
    [reply] = stack.wait_for_messages(customer, "INBOX", 1)
    [reference] = find_in_text(str(parsed(reply)["Subject"]))
    return reference


def assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.both, result.describe()
