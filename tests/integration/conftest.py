"""A triaged instance wired to the session's real mail stack, with a frozen clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from tests.mailstack import MailStack
from triaged import app as wiring
from triaged.app import App
from triaged.config.loading import load
from triaged.config.records import Config
from triaged.domain.clock import FixedClock
from triaged.usecases.cycle import CycleReport, run_cycle

# Monday 23 November 2026, 10:00 in Bucharest: a working day, with Romania's
# St Andrew's Day (30 Nov) and National Day (1 Dec) inside the default SLA.
MONDAY_10_BUCHAREST = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

_ids = itertools.count(1)


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


@pytest.fixture
def make_triaged(
    mailstack: MailStack, support_address: str, tmp_path: Path
) -> Iterator[Callable[..., Triaged]]:
    made: list[Triaged] = []

    def make(**extra: str) -> Triaged:
        secret = tmp_path / "imap.pass"
        secret.write_text(mailstack.password(support_address) + "\n")
        path = tmp_path / f"config-{len(made)}.toml"
        path.write_text(config_text(mailstack, support_address, tmp_path / "triaged.db", secret,
                                    **extra))
        instance = Triaged(mailstack, support_address, path)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.close()


@pytest.fixture
def triaged(make_triaged: Callable[..., Triaged]) -> Triaged:
    return make_triaged()


def complaint_mail(
    sender: str, to: str, subject: str, body: str, *, name: str = "", **headers: str
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    msg["Message-ID"] = make_msgid(idstring=f"t{next(_ids)}", domain="customer.example")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()
