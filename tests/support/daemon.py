"""`triaged run` as a real process, for the tests that start one: its config folder, the
process, and waits on its log.

The fixture ``setup`` (tests/integration/conftest.py) gives a Setup and kills whatever it
started at the end of the test.
"""

from __future__ import annotations

import re
import signal
import smtplib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.installation import config_text
from tests.support.mail import complaint_mail
from triaged.store.db import make_engine, transaction
from triaged.store.models import Complaint, OutboxLetter

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 10.0) -> str:
        """Wait until `pattern` (a regex) matched `count` log lines; return the log."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log
            if len(re.findall(pattern, text)) >= count:
                return text
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited ({self.process.returncode}):\n{text}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} x {pattern!r} after {timeout}s:\n{text}")
            time.sleep(0.02)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM; the exit status (the test fails if it takes longer than STOP_TIMEOUT)."""
        self.signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT)


@dataclass
class Setup:
    stack: MailStack
    support: str
    folder: Path

    @property
    def config_path(self) -> Path:
        return self.folder / "config.toml"

    @property
    def db(self) -> Path:
        return self.folder / "triaged.db"

    def write_config(self, *, poll: str = "1s", idle: bool = True, port: int | None = None,
                     name: str = "Acme Bakery", extra_mailbox: str = "",
                     broken: bool = False, log_format: str = "text",
                     smtp_port: int | None = None, smtp_timeout: str = "30s") -> None:
        secret = self.folder / "imap.pass"
        secret.write_text(self.stack.password(self.support) + "\n")
        text = config_text(self.stack, self.support, self.db, secret,
                           mailbox=f"idle = {str(idle).lower()}")
        text = text.replace('poll_interval = "1s"', f'poll_interval = "{poll}"')
        text = text.replace('name = "Acme Bakery"', f'name = "{name}"')
        if port is not None:
            text = text.replace(f"port = {self.stack.imap_port}", f"port = {port}")
        if smtp_port is not None:
            text = text.replace(f"port = {self.stack.smtp_port}", f"port = {smtp_port}")
        text = text.replace("[smtp]\n", f'[smtp]\ntimeout = "{smtp_timeout}"\n')
        # The tests here read the human form; tests/integration/test_logs.py the others.
        text += f'\n[logging]\nformat = "{log_format}"\n'
        if extra_mailbox:
            text += f"""
[[mailboxes]]
name = "second"
address = "{extra_mailbox}"
host = "{self.stack.host}"
port = {self.stack.imap_port}
security = "plain"
password_file = "{secret}"
poll_interval = "1s"
"""
        if broken:
            text = text.replace('timezone = "Europe/Bucharest"', 'timezone = "Mars/Olympus"')
            text = text.replace(f'poll_interval = "{poll}"', 'poll_interval = "soon"')
        self.config_path.write_text(text)

    def start(self, *, verbose: bool = False, env: dict[str, str] | None = None) -> Daemon:
        log_path = self.folder / f"daemon-{len(list(self.folder.glob('daemon-*')))}.log"
        args = [sys.executable, "-m", "triaged", "--config", str(self.config_path)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen([*args, *(["-v"] if verbose else []), "run"],
                                       stdout=log, stderr=log, env=env)
        daemon = Daemon(process, log_path)
        self._started.append(daemon)
        daemon.wait_for_log(r"triaged running", timeout=START_TIMEOUT)
        return daemon

    def send_complaint(self, customer: str, subject: str = "Cake arrived crushed",
                       to: str | None = None) -> None:
        to = to or self.support
        data = complaint_mail(customer, to, subject, "The cake was crushed.", name="Maria")
        with smtplib.SMTP(self.stack.host, self.stack.smtp_port) as smtp:
            smtp.sendmail(customer, [to], data)

    def letters(self) -> list[OutboxLetter]:
        engine = make_engine(f"sqlite:///{self.db}")
        try:
            with transaction(engine) as session:
                return list(session.exec(select(OutboxLetter)))
        finally:
            engine.dispose()

    def complaints(self) -> list[Complaint]:
        engine = make_engine(f"sqlite:///{self.db}")
        try:
            with transaction(engine) as session:
                return list(session.exec(select(Complaint)))
        finally:
            engine.dispose()

    def imap_sessions(self, user: str) -> int:
        """IMAP connections of `user` open now, from Dovecot's log."""
        text = self.stack.log_path.read_text(errors="replace")
        logins = len(re.findall(rf"Login: user=<{re.escape(user)}>", text))
        gone = len(re.findall(rf"imap\({re.escape(user)}\).*Disconnected", text))
        return logins - gone

    _started: list[Daemon] = field(default_factory=list)


def wait_first_contact(daemon: Daemon, count: int = 1) -> None:
    # start = "now": mail already in the folder at first contact is left alone,
    # so the complaint must come after it.
    daemon.wait_for_log(r"first contact", count)
