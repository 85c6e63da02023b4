"""The records a loaded configuration is made of; `triaged.config` builds them.

All frozen, with tuples for lists, so a `Config` can be shared between
threads and swapped whole on SIGHUP. Secrets sit inside `Secret`, and the
database URL's password is masked in `repr`, so printing a `Config` is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from triaged.config.metrics import MetricsConfig
from triaged.config.privacy import PrivacyConfig
from triaged.config.report import ReportConfig
from triaged.config.secrets import Secret
from triaged.config.url_secrets import redact_url, url_password
from triaged.domain.durations import Duration, Unit
from triaged.domain.mailbox_key import DOTLESS_DOMAINS

# The priority of a complaint no `[[priorities]]` rule matches.
NORMAL_PRIORITY = "normal"


@dataclass(frozen=True)
class BusinessConfig:
    """Who we are and when we work; days are 0 = Monday, hours are minutes since midnight."""

    name: str
    timezone: str
    country: str
    subdivision: str
    working_days: tuple[int, ...]
    working_hours: tuple[int, int]
    language: str
    closed_dates: tuple[date, ...]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class MailboxConfig:
    """One support mailbox: IMAP at `host`, or a local Maildir when `maildir` is set."""

    name: str
    address: str
    host: str
    port: int
    security: str
    username: str
    password: Secret | None
    folder: str
    processed_folder: str
    poll_interval: timedelta
    idle: bool
    start: str
    maildir: str
    # Run by the IMAP adapter at each login (OAuth2 tokens expire within the
    # hour), so it is kept as a command rather than read here.
    oauth2_token_command: tuple[str, ...] = ()
    # The config file's folder: oauth2_token_command runs there, as password_command does.
    command_dir: str = ""


@dataclass(frozen=True)
class SmtpConfig:
    """Where letters go: SMTP at `host`, or Maildirs under `deliver_to_maildir` when set."""

    host: str
    port: int
    security: str
    username: str
    password: Secret | None
    timeout: timedelta
    max_attempts: int
    deliver_to_maildir: str
    # Sessions sending at once: more throughput, and after a crash at most one
    # letter sent twice per session.
    connections: int = 1
    # XOAUTH2 instead of a password: run at each SMTP login (see MailboxConfig).
    oauth2_token_command: tuple[str, ...] = ()
    command_dir: str = ""


@dataclass(frozen=True)
class DatabaseConfig:
    """An SQLAlchemy URL; a relative SQLite path is resolved against the config's folder.

    `migrate_on_start`: `run` (and the other commands) upgrade a schema that is
    behind; when False they refuse and the operator runs `triaged migrate`.
    """

    url: str
    migrate_on_start: bool = True

    def __repr__(self) -> str:
        # PostgreSQL URLs may carry a password.
        return (f"DatabaseConfig(url={redact_url(self.url)!r}, "
                f"migrate_on_start={self.migrate_on_start!r})")


@dataclass(frozen=True)
class SlaConfig:
    """The default promise and the ladder's pace; categories and priorities may
    promise differently (`CategoryRule.resolve_within`, `PriorityRule.resolve_within`)."""

    resolve_within: Duration
    remind_before: Duration
    escalate_every: Duration
    # Once the top manager level has been told, how often it is told again.
    top_level_every: Duration
    # Staff and manager letters (reminders, escalations) wait for working hours
    # unless this is true; customers' letters never wait.
    notify_outside_working_hours: bool = False


@dataclass(frozen=True)
class CategoryRule:
    """`[[categories]]`: a complaint mentioning one of `keywords` is of this category."""

    name: str
    keywords: tuple[str, ...]
    resolve_within: Duration | None = None


@dataclass(frozen=True)
class PriorityRule:
    """`[[priorities]]`: a complaint from one of `senders` (an address or "@domain")
    or mentioning one of `keywords` has this priority; "normal" when none matches."""

    name: str
    keywords: tuple[str, ...]
    senders: tuple[str, ...]
    resolve_within: Duration | None = None


@dataclass(frozen=True)
class StaffConfig:
    notify: tuple[str, ...]
    forwarders: tuple[str, ...]


@dataclass(frozen=True)
class ManagerConfig:
    email: str
    name: str
    level: int


@dataclass(frozen=True)
class ApprovalConfig:
    """`secret` is None until `secret_file` is configured; approvals need it."""

    secret: Secret | None
    token_ttl: Duration
    require_authentication_results: bool
    authserv_id: str
    # Where `secret` came from, for `triaged check` (its permissions); "" when unset.
    secret_file: str = ""


@dataclass(frozen=True)
class TemplatesConfig:
    dir: str


@dataclass(frozen=True)
class LoggingConfig:
    """`[logging]`: the line format (auto | json | logfmt | text) and the lowest level."""

    format: str = "auto"
    level: str = "info"


# 25 MB is what the big mail services (Gmail, Outlook.com) let a person send in
# one message: any mail a customer can write is stored whole, and only a mail
# built to fill the database is cut.
RAW_MAX = 25 * 1024 * 1024


@dataclass(frozen=True)
class LimitsConfig:
    """`[limits]`: how much automatic mail triaged writes, whoever asks for it, and how
    much of one incoming message it stores.

    Per real mailbox (`mailbox_key`: case, plus-detail and, at `dotless_domains`,
    dots ignored) at most `auto_letters_per_day` automatic letters in 24 hours;
    across all addresses at most `auto_letters_per_hour` (0: no overall cap);
    at most `staff_notices_per_hour` notices to each staff address about one
    sender's mail, the rest in one digest letter. At most `raw_max` bytes of raw
    mail per message are kept (past it the parsed text and headers are kept, the
    raw bytes cut).
    """

    auto_letters_per_day: int
    auto_letters_per_hour: int = 100
    staff_notices_per_hour: int = 5
    dotless_domains: frozenset[str] = DOTLESS_DOMAINS
    raw_max: int = RAW_MAX
    # Seconds one message may take to read before it is quarantined.
    message_budget: float = 10.0
    # Times the process may stop while handling one message before it is quarantined.
    stops_before_quarantine: int = 3


FORWARD_MAX = 10 * 1024 * 1024


@dataclass(frozen=True)
class AttachmentsConfig:
    """`[attachments]`: the customer's files in letters to staff and managers.

    A letter carries files up to `forward_max` bytes in all, and lists the rest.
    `max_size` is the largest message kept whole: a larger one is registered
    with its text, its files listed as not kept, and its raw copy cut (the same
    figure as `[limits] raw_max`, which older configs name; one value serves both).
    """

    forward_max: int = FORWARD_MAX
    max_size: int = RAW_MAX


CHECK_AFTER = Duration(3, Unit.DAYS, business=True)
CLOSE_AFTER = Duration(7, Unit.DAYS)


@dataclass(frozen=True)
class SatisfactionConfig:
    """After the final letter: ask whether it is settled, then close when all is quiet.

    `check_after` counts from the final letter's delivery; `close_after` from the
    satisfaction letter (or from the final letter when `check` is off).
    """

    check: bool = True
    check_after: Duration = CHECK_AFTER
    close_after: Duration = CLOSE_AFTER


@dataclass(frozen=True)
class Config:
    path: str
    business: BusinessConfig
    mailboxes: tuple[MailboxConfig, ...]
    smtp: SmtpConfig
    database: DatabaseConfig
    sla: SlaConfig
    staff: StaffConfig
    managers: tuple[ManagerConfig, ...]
    approval: ApprovalConfig
    templates: TemplatesConfig
    limits: LimitsConfig
    categories: tuple[CategoryRule, ...] = ()
    priorities: tuple[PriorityRule, ...] = ()
    satisfaction: SatisfactionConfig = SatisfactionConfig()
    logging: LoggingConfig = LoggingConfig()
    attachments: AttachmentsConfig = AttachmentsConfig()

    def own_addresses(self) -> tuple[str, ...]:
        """The business's own addresses (staff, forwarders, managers, mailboxes, the
        report's readers): a bounce never suppresses them."""
        return (*self.staff.notify, *self.staff.forwarders, *self.report.to,
                *(m.email for m in self.managers), *(m.address for m in self.mailboxes))

    def secrets(self) -> tuple[str, ...]:
        """Every secret value in this config, for the log filter to remove."""
        found = [m.password for m in self.mailboxes] + [self.smtp.password,
                                                        self.approval.secret]
        values = [s.reveal() for s in found if s is not None]
        password = url_password(self.database.url)
        return tuple(values + ([password] if password else []))
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
