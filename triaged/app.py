"""Wiring: the concrete adapters and use cases built from one Config.

Only `cli`, `daemon` and `demo` import this module; everything it builds is
passed down, so use cases never construct their own sockets or engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from triaged.approval.routing import Registry
from triaged.clock import Clock, SystemClock
from triaged.config import Config, MailboxConfig, Secret
from triaged.config_secrets import run_secret_command
from triaged.escalation import Escalator
from triaged.ingest.imap import ImapSettings, ImapSource
from triaged.ingest.maildir import MaildirSource
from triaged.ingest.source import MailSource
from triaged.intake import Intake
from triaged.outbound.render import Renderer
from triaged.outbound.smtp import MaildirTransport, SmtpSettings, SmtpTransport, Transport
from triaged.polling import MailboxPoller
from triaged.satisfaction import Satisfaction
from triaged.sender import Sender
from triaged.sla.calendar import BusinessCalendar
from triaged.store.db import make_engine, migrate


def _reveal(secret: Secret | None) -> str:
    return secret.reveal() if secret is not None else ""


def make_source(mailbox: MailboxConfig) -> MailSource:
    if mailbox.maildir:
        return MaildirSource(mailbox.name, mailbox.maildir, mailbox.processed_folder)
    token = None
    if mailbox.oauth2_token_command:
        command = mailbox.oauth2_token_command
        token = lambda: run_secret_command(command, None).reveal()  # noqa: E731
    settings = ImapSettings(
        host=mailbox.host,
        port=mailbox.port,
        security=mailbox.security,
        username=mailbox.username,
        password=lambda: _reveal(mailbox.password),
        folder=mailbox.folder,
        processed_folder=mailbox.processed_folder,
        oauth2_token=token,
    )
    return ImapSource(mailbox.name, settings)


def make_transport(config: Config) -> Transport:
    smtp = config.smtp
    if smtp.deliver_to_maildir:
        return MaildirTransport(smtp.deliver_to_maildir)
    return SmtpTransport(
        SmtpSettings(
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=(lambda: _reveal(smtp.password)) if smtp.password is not None else None,
            timeout=smtp.timeout.total_seconds(),
        )
    )


@dataclass
class App:
    """Everything one running triaged needs, built once per config (and on SIGHUP)."""

    config: Config
    engine: Engine
    clock: Clock
    intake: Intake
    sender: Sender
    escalator: Escalator
    pollers: list[MailboxPoller] = field(default_factory=list)
    satisfaction: Satisfaction | None = None

    def close(self) -> None:
        for poller in self.pollers:
            poller.close()


def build(
    config: Config,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    transport: Transport | None = None,
    registry: Registry | None = None,
) -> App:
    """Build the app; migrates the database schema to the newest revision."""
    clock = clock or SystemClock()
    if engine is None:
        engine = make_engine(config.database.url)
        migrate(engine)
    renderer = Renderer(config.templates.dir, config.business.language)
    calendar = BusinessCalendar.from_config(config.business)
    intake = Intake(engine, config, clock, renderer, calendar, registry=registry)
    escalator = Escalator(engine, config, clock, renderer, calendar)
    sender = Sender(engine, clock, transport or make_transport(config),
                    max_attempts=config.smtp.max_attempts)
    pollers = [MailboxPoller(intake, m, make_source(m)) for m in config.mailboxes]
    satisfaction = Satisfaction(engine, intake.mailer, clock)
    return App(config, engine, clock, intake, sender, escalator, pollers, satisfaction)
