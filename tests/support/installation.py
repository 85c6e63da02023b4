"""A triaged installation for the tests: its config file, its app and its frozen clock.

The fixtures that make one (``make_triaged``, ``triaged``) are in tests/conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tests.mailstack import MailStack
from triaged import app as wiring
from triaged.app import App
from triaged.config.loading import load
from triaged.config.records import Config
from triaged.daemon.cycle import CycleReport, run_cycle
from triaged.domain.clock import FixedClock

# Monday 23 November 2026, 10:00 in Bucharest: a working day, with Romania's
# St Andrew's Day (30 Nov) and National Day (1 Dec) inside the default SLA.
MONDAY_10_BUCHAREST = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def config_text(stack: MailStack, support: str, db: Path, secret: Path, **extra: str) -> str:
    mailbox_extra = extra.get("mailbox", "")
    return f"""
[business]
name = "Acme Bakery"
timezone = "Europe/Bucharest"
country = "RO"
{extra.get("week", 'working_hours = ["09:00", "17:00"]')}

[[mailboxes]]
name = "support"
address = "{support}"
host = "{stack.host}"
port = {stack.imap_port}
security = "plain"
username = "{support}"
password_file = "{secret}"
poll_interval = "1s"
{mailbox_extra}

[smtp]
host = "{stack.host}"
port = {stack.smtp_port}
security = "plain"
max_attempts = {extra.get("max_attempts", "5")}

[database]
url = "sqlite:///{db}"

[sla]
{extra.get("sla", 'resolve_within = "5 business days"')}
{extra.get("tail", "")}
"""


@dataclass
class Triaged:
    """One triaged installation: its config file, its app, its clock."""

    stack: MailStack
    support: str
    config_path: Path
    clock: FixedClock = field(default_factory=lambda: FixedClock(MONDAY_10_BUCHAREST))
    _app: App | None = None

    @property
    def config(self) -> Config:
        return load(self.config_path)

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = wiring.build(self.config, clock=self.clock)
        return self._app

    def cycle(self) -> CycleReport:
        return run_cycle(self.app)

    def restart(self) -> None:
        """A new process: fresh connections and objects, the same database."""
        if self._app is not None:
            self._app.close()
            self._app.engine.dispose()
        self._app = None

    def close(self) -> None:
        self.restart()


def point_at(t: Triaged, *, imap_port: int | None = None, smtp_port: int | None = None) -> None:
    """Rewrite the config's ports and restart, as an operator would (or as a dead server
    looks); without ports, back to the real servers."""
    pristine = t.config_path.with_suffix(".pristine")
    if not pristine.exists():
        pristine.write_text(t.config_path.read_text())
    text = pristine.read_text()
    if imap_port is not None:
        text = text.replace(f"port = {t.stack.imap_port}\n", f"port = {imap_port}\n", 1)
    if smtp_port is not None:
        text = text.replace(f"port = {t.stack.smtp_port}\n", f"port = {smtp_port}\n", 1)
    t.config_path.write_text(text)
    t.restart()
