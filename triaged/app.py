"""Wiring: the concrete adapters and use cases built from one Config.

Only `cli`, `daemon` and `demo` import this module; everything it builds is
passed down, so use cases never construct their own sockets, engines or
mailers. One `Mailer` is built here and shared by every use case that writes
a letter, and the reply purposes intake routes tokens by are registered here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from triaged import logs
from triaged.adapters.imap import ImapSettings, ImapSource
from triaged.adapters.maildir import MaildirSource
from triaged.adapters.ports import MailSource, Transport
from triaged.adapters.smtp import MaildirTransport, SmtpSettings, SmtpTransport
from triaged.config.records import Config, MailboxConfig
from triaged.config.secrets import Secret, run_secret_command
from triaged.core.calendar import BusinessCalendar
from triaged.core.letters.render import Renderer
from triaged.domain.clock import Clock, SystemClock
from triaged.domain.errors import SchemaMismatch
from triaged.replies.purposes import Registry
from triaged.replies.routing import ReplyRouter
from triaged.store.db import ensure_schema, make_engine
from triaged.usecases import escalation_replies
from triaged.usecases.approval import Approvals
from triaged.usecases.bounced import bounce_key
from triaged.usecases.escalation import Escalator
from triaged.usecases.intake import Intake
from triaged.usecases.mailer import Mailer
from triaged.usecases.polling import MailboxPoller
from triaged.usecases.privacy import Privacy
from triaged.usecases.promises import Promises
from triaged.usecases.reader import Reader
from triaged.usecases.report import Reports
from triaged.usecases.satisfaction import Satisfaction
from triaged.usecases.sender import Sender
from triaged.usecases.staff_digests import StaffDigests


def _reveal(secret: Secret | None) -> str:
    return secret.reveal() if secret is not None else ""


def _remembered(token: str) -> str:
    """A secret fetched at run time is redacted from the logs from then on."""
    logs.add_secret(token)
    return token


def token_fetcher(command: tuple[str, ...], folder: str) -> Callable[[], str] | None:
    """A callable that runs `oauth2_token_command` anew at each call; None when unset.

    Access tokens expire within the hour, so none is kept: every login asks
    for a fresh one. A failing command raises ValueError naming the key and the
    command, never anything it printed on standard output.
    """
    if not command:
        return None

    def fetch() -> str:
        try:
            return _remembered(
                run_secret_command(command, Path(folder) if folder else None).reveal())
        except ValueError as error:
            raise ValueError(f"oauth2_token_command: {error}") from None

    return fetch


def make_source(mailbox: MailboxConfig) -> MailSource:
    if mailbox.maildir:
        return MaildirSource(mailbox.name, mailbox.maildir, mailbox.processed_folder)
    token = token_fetcher(mailbox.oauth2_token_command, mailbox.command_dir)
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
            oauth2_token=token_fetcher(smtp.oauth2_token_command, smtp.command_dir),
            timeout=smtp.timeout.total_seconds(),
            connections=smtp.connections,
        )
    )


@dataclass
class App:
    """Everything one running triaged needs, built once per config (and on SIGHUP)."""

    config: Config
    engine: Engine
    clock: Clock
    mailer: Mailer
    approvals: Approvals
    intake: Intake
    sender: Sender
    escalator: Escalator
    pollers: list[MailboxPoller] = field(default_factory=list)
    satisfaction: Satisfaction | None = None
    digests: StaffDigests | None = None
    privacy: Privacy | None = None
    reports: Reports | None = None

    def close(self) -> None:
        for poller in self.pollers:
            poller.close()
        if self.intake.reader is not None:
            self.intake.reader.close()
        self.sender.close()


def reply_purposes(approvals: Approvals, promises: Promises) -> Registry:
    """Every kind of reply token triaged understands: drafts, approvals, escalations."""
    return Registry.of(*approvals.purposes(), escalation_replies.purpose(promises))


def build(
    config: Config,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    transport: Transport | None = None,
    registry: Registry | None = None,
) -> App:
    """Build the app; brings the database schema to the newest revision.

    `registry` replaces the reply purposes of `reply_purposes` (tests give one
    of their own).

    Raises SchemaMismatch when the schema is behind and `[database]
    migrate_on_start` is off, or when it is newer than this code.
    """
    clock = clock or SystemClock()
    if engine is None:
        engine = make_engine(config.database.url)
        try:
            ensure_schema(engine, migrate_on_start=config.database.migrate_on_start)
        except SchemaMismatch:
            engine.dispose()
            raise
    renderer = Renderer(config.templates.dir, config.business.language)
    mailer = Mailer(config, renderer, BusinessCalendar.from_config(config.business))
    approvals = Approvals(mailer)
    replies = ReplyRouter(config, registry or reply_purposes(approvals, Promises(mailer)),
                          mailer)
    intake = Intake(engine, clock, mailer, approvals, replies)
    # Started on the first message, so commands that read no mail start no process.
    intake.reader = Reader(intake.rules, config.limits.message_budget)
    sender = Sender(engine, clock, transport or make_transport(config),
                    max_attempts=config.smtp.max_attempts, return_key=bounce_key(config))
    pollers = [MailboxPoller(intake, m, make_source(m)) for m in config.mailboxes]
    return App(config, engine, clock, mailer, approvals, intake, sender,
               Escalator(engine, clock, mailer), pollers, Satisfaction(engine, mailer, clock),
               StaffDigests(engine, mailer, clock), Privacy(engine, clock, config),
               Reports(engine, mailer, clock))
