"""The configuration: one TOML file (`config.example.toml`) turned into frozen, typed records.

`load()` reads the file, checks every key and raises `ConfigError` listing
*every* problem at once, each with its key path (`mailboxes[0].port: ...`),
so `triaged check` and a SIGHUP reload can show the operator everything that
is wrong in one go. Unknown keys are problems too: a typo must not silently
fall back to a default. Secrets are read here, from `*_file` or `*_command`,
and live only inside `Secret`, which never prints its value.

`config.example.toml` at the top of the repository documents every key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from triaged import logs
from triaged.config import checks
from triaged.config.database import database_url
from triaged.config.metrics import read_metrics
from triaged.config.privacy import read_privacy
from triaged.config.reader import Table
from triaged.config.records import (
    FORWARD_MAX,
    NORMAL_PRIORITY,
    RAW_MAX,
    ApprovalConfig,
    AttachmentsConfig,
    BusinessConfig,
    CategoryRule,
    Config,
    DatabaseConfig,
    LimitsConfig,
    LoggingConfig,
    MailboxConfig,
    ManagerConfig,
    PriorityRule,
    SatisfactionConfig,
    SlaConfig,
    SmtpConfig,
    StaffConfig,
    TemplatesConfig,
)
from triaged.config.report import read_report
from triaged.config.secrets import Secret, read_secret_file, run_secret_command
from triaged.domain.durations import Duration, parse_duration
from triaged.domain.errors import ConfigError
from triaged.domain.mailbox_key import DOTLESS_DOMAINS

R = TypeVar("R")

__all__ = [
    "ApprovalConfig", "BusinessConfig", "CategoryRule", "Config", "DatabaseConfig",
    "LimitsConfig", "LoggingConfig", "MailboxConfig", "ManagerConfig", "PriorityRule", "Secret",
    "SlaConfig", "SmtpConfig", "StaffConfig", "TemplatesConfig", "default_path", "from_mapping",
    "load",
]

DEFAULT_PATH = Path("/etc/triaged/config.toml")
DEFAULT_DATABASE_URL = "sqlite:////var/lib/triaged/triaged.db"
SECURITIES = ("tls", "starttls", "plain")
IMAP_PORTS = {"tls": 993, "starttls": 143, "plain": 143}
SMTP_PORTS = {"tls": 465, "starttls": 587, "plain": 25}
# Parallel SMTP sessions: a mail provider counts them against a per-account limit.
MAX_SMTP_CONNECTIONS = 16


def default_path() -> Path:
    """`$TRIAGED_CONFIG` when set, else /etc/triaged/config.toml (`--config` beats both)."""
    configured = os.environ.get("TRIAGED_CONFIG", "")
    return Path(configured) if configured else DEFAULT_PATH


def load(path: str | Path) -> Config:
    """Read and check the TOML file at `path`; raise ConfigError listing every problem.

    Relative paths inside the file are resolved against the file's folder.
    Secret files are read and secret commands run now, once.
    """
    file = Path(os.path.abspath(Path(path).expanduser()))
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(
            [f"{file}: cannot read the configuration file: {exc.strerror or exc}"]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{file}: invalid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{file}: invalid TOML: the file is not UTF-8 text"]) from None
    return from_mapping(data, file.parent, str(file))


def from_mapping(data: Mapping[str, Any], base_dir: Path, path: str = "<memory>") -> Config:
    """Check an already-parsed TOML document; relative paths resolve against `base_dir`."""
    problems: list[str] = []
    root = Table(data, "", problems, Path(base_dir))
    limits = _limits(root.table("limits"))
    attachments = _attachments(root.table("attachments"), limits)
    config = Config(
        path=path,
        business=_business(root.table("business")),
        mailboxes=_mailboxes(root),
        smtp=_smtp(root.table("smtp")),
        database=_database(root.table("database")),
        sla=_sla(root.table("sla")),
        staff=_staff(root.table("staff")),
        managers=tuple(_manager(table) for table in root.tables("managers")),
        approval=_approval(root.table("approval")),
        templates=_templates(root.table("templates")),
        limits=replace(limits, raw_max=attachments.max_size),
        attachments=attachments,
        categories=_named(root.tables("categories"), _category),
        priorities=_named(root.tables("priorities"), _priority),
        satisfaction=_satisfaction(root.table("satisfaction")),
        logging=_logging(root.table("logging")),
        metrics=read_metrics(root.table("metrics")),
        privacy=read_privacy(root.table("privacy")),
        report=read_report(root.table("report")),
    )
    root.finish()
    if problems:
        raise ConfigError(problems)
    return config


def _business(t: Table) -> BusinessConfig:
    name = t.string("name", required=True)
    timezone = t.checked("timezone", "UTC", checks.time_zone)
    before = t.problem_count
    country = t.checked("country", "", checks.country)
    # A bad country has been reported; judging its subdivisions would only add noise.
    if t.problem_count == before:
        subdivision = t.checked("subdivision", "", lambda s: checks.subdivision(country, s))
    else:
        subdivision = t.string("subdivision")
    business = BusinessConfig(
        name=name,
        timezone=timezone,
        country=country,
        subdivision=subdivision,
        working_days=t.strings_as("working_days", checks.WEEKDAYS[:5], checks.weekdays),
        working_hours=t.strings_as("working_hours", ("09:00", "17:00"), checks.working_hours),
        language=t.checked("language", "en", checks.language),
        closed_dates=tuple(sorted(set(t.each("closed_dates", checks.closed_date)))),
    )
    t.finish()
    return business


def _mailboxes(root: Table) -> tuple[MailboxConfig, ...]:
    before = root.problem_count
    tables = root.tables("mailboxes")
    if not tables and root.problem_count == before:
        root.problem("mailboxes", "at least one [[mailboxes]] table is required")
    mailboxes = tuple(_mailbox(table) for table in tables)
    first_with: dict[str, int] = {}
    for index, (mailbox, table) in enumerate(zip(mailboxes, tables, strict=True)):
        if mailbox.name in first_with:
            table.problem("name", f"{mailbox.name!r} is already the name of "
                                  f"mailboxes[{first_with[mailbox.name]}]")
        first_with.setdefault(mailbox.name, index)
    return mailboxes


def _mailbox(t: Table) -> MailboxConfig:
    address = t.checked("address", "", checks.address, required=True)
    name = t.string("name", address)
    if t.has("name") and not name.strip():
        t.problem("name", "must not be empty")
    maildir = t.path("maildir")
    host = t.string("host")
    if not host and not maildir:
        t.problem("host", "required key is missing (or set maildir for a local Maildir)")
    security = t.choice("security", "tls", SECURITIES)
    password = _password(t)
    oauth2 = _oauth2_command(t, password)
    mailbox = MailboxConfig(
        name=name,
        address=address,
        host=host,
        port=t.integer("port", IMAP_PORTS[security], low=1, high=65535),
        security=security,
        username=t.string("username", address),
        password=password,
        folder=t.checked("folder", "INBOX", _non_empty),
        processed_folder=t.string("processed_folder", "Triaged"),
        poll_interval=t.interval("poll_interval", "60s"),
        idle=t.boolean("idle", True),
        start=t.choice("start", "now", ("now", "all")),
        maildir=maildir,
        oauth2_token_command=oauth2,
        command_dir=_command_dir(t),
    )
    t.finish()
    return mailbox


def _smtp(t: Table) -> SmtpConfig:
    deliver_to_maildir = t.path("deliver_to_maildir")
    host = t.string("host")
    if not host and not deliver_to_maildir:
        t.problem("host", "required key is missing (or set deliver_to_maildir)")
    security = t.choice("security", "starttls", SECURITIES)
    username = t.string("username")
    password = _password(t)
    oauth2 = _oauth2_command(t, password)
    if oauth2 and not username:
        t.problem("username", "required with oauth2_token_command (the account the token "
                              "belongs to)")
    smtp = SmtpConfig(
        host=host,
        port=t.integer("port", SMTP_PORTS[security], low=1, high=65535),
        security=security,
        username=username,
        password=password,
        oauth2_token_command=oauth2,
        command_dir=_command_dir(t),
        timeout=t.interval("timeout", "30s"),
        max_attempts=t.integer("max_attempts", 8, low=1),
        deliver_to_maildir=deliver_to_maildir,
        connections=t.integer("connections", 1, low=1, high=MAX_SMTP_CONNECTIONS),
    )
    t.finish()
    return smtp


def _oauth2_command(t: Table, password: Secret | None) -> tuple[str, ...]:
    """`oauth2_token_command`: kept as a command, not run here, because access tokens
    expire within the hour and each login needs a fresh one."""
    command = t.command("oauth2_token_command")
    if command and (password is not None or t.has("password_file")
                    or t.has("password_command")):
        t.problem("oauth2_token_command", "set either a password or oauth2_token_command, "
                                          "not both")
    return command


def _command_dir(t: Table) -> str:
    """Where secret commands run: the config file's folder, so relative helpers work."""
    return str(t.base_dir) if t.base_dir.is_dir() else ""


def _password(t: Table) -> Secret | None:
    """The password from `password_file` or `password_command`; None when neither is set."""
    file = t.path("password_file")
    command = t.command("password_command")
    if file and command:
        t.problem("password_command", "set either password_file or password_command, not both")
        return None
    try:
        if file:
            return read_secret_file(Path(file))
        if command:
            return run_secret_command(command, Path(_command_dir(t)) if _command_dir(t)
                                      else None)
    except ValueError as exc:
        t.problem("password_file" if file else "password_command", str(exc))
    return None


def _database(t: Table) -> DatabaseConfig:
    database = DatabaseConfig(
        url=t.checked("url", DEFAULT_DATABASE_URL, lambda u: database_url(u, t.base_dir)),
        migrate_on_start=t.boolean("migrate_on_start", True),
    )
    t.finish()
    return database


def _sla(t: Table) -> SlaConfig:
    sla = SlaConfig(
        resolve_within=t.duration("resolve_within", "5 business days"),
        remind_before=t.duration("remind_before", "1 business day"),
        escalate_every=t.duration("escalate_every", "1 business day"),
        top_level_every=t.duration("top_level_every", "1 day"),
        notify_outside_working_hours=t.boolean("notify_outside_working_hours", False),
    )
    t.finish()
    return sla


def _named(tables: list[Table], build: Callable[[Table], R]) -> tuple[R, ...]:
    """Rules read by `build`; a name used twice is a problem (the first one would win)."""
    rules: list[R] = []
    first_with: dict[str, int] = {}
    for index, table in enumerate(tables):
        rule = build(table)
        name = getattr(rule, "name", "")
        if name in first_with:
            table.problem("name", f"{name!r} is already the name of rule {first_with[name]}")
        first_with.setdefault(name, index)
        rules.append(rule)
    return tuple(rules)


def _category(t: Table) -> CategoryRule:
    rule = CategoryRule(
        name=t.checked("name", "", _rule_name, required=True),
        keywords=_keywords(t, required=True),
        resolve_within=t.checked("resolve_within", None, parse_duration),
    )
    t.finish()
    return rule


def _priority(t: Table) -> PriorityRule:
    name = t.checked("name", "", _rule_name, required=True)
    if name == NORMAL_PRIORITY:
        t.problem("name", f"{NORMAL_PRIORITY!r} is the priority of complaints no rule matches")
    before = t.problem_count
    keywords = _keywords(t, required=False)
    senders = t.each("senders", _sender)
    if not keywords and not senders and t.problem_count == before:
        t.problem("keywords", "set keywords or senders (or both): a rule must match something")
    rule = PriorityRule(
        name=name,
        keywords=keywords,
        senders=senders,
        resolve_within=t.checked("resolve_within", None, parse_duration),
    )
    t.finish()
    return rule


def _keywords(t: Table, *, required: bool) -> tuple[str, ...]:
    before = t.problem_count
    keywords = t.each("keywords", _keyword)
    if required and not keywords and t.problem_count == before:
        t.problem("keywords", "required: the words and phrases that mark this category")
    return keywords


def _keyword(value: object) -> str:
    if not isinstance(value, str) or not value.strip().rstrip("*").strip():
        raise ValueError(f"expected a word or phrase, got {value!r}")
    return value.strip()


def _sender(value: object) -> str:
    """An address, or "@domain" for everyone at that domain."""
    try:
        if isinstance(value, str) and value.startswith("@"):
            checks.address(f"someone{value}")
            return value.lower()
        return checks.address(value).lower()
    except ValueError:
        raise ValueError(f"expected an address such as 'name@example.com' or a whole domain "
                         f"such as '@example.com', got {value!r}") from None


def _rule_name(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def _staff(t: Table) -> StaffConfig:
    staff = StaffConfig(
        notify=t.each("notify", checks.address),
        forwarders=t.each("forwarders", checks.address),
    )
    t.finish()
    return staff


def _manager(t: Table) -> ManagerConfig:
    manager = ManagerConfig(
        email=t.checked("email", "", checks.address, required=True),
        name=t.string("name"),
        level=t.integer("level", 1, low=1),
    )
    t.finish()
    return manager


def _approval(t: Table) -> ApprovalConfig:
    secret_file = t.path("secret_file")
    secret: Secret | None = None
    if secret_file:
        try:
            secret = read_secret_file(Path(secret_file))
        except ValueError as exc:
            t.problem("secret_file", str(exc))
    require = t.boolean("require_authentication_results", False)
    authserv_id = t.string("authserv_id")
    if require and not authserv_id:
        t.problem("authserv_id", "required when require_authentication_results = true")
    approval = ApprovalConfig(
        secret=secret,
        secret_file=secret_file,
        token_ttl=t.duration("token_ttl", "14 days"),
        require_authentication_results=require,
        authserv_id=authserv_id,
    )
    t.finish()
    return approval


def _templates(t: Table) -> TemplatesConfig:
    folder = t.path("dir")
    if folder and not Path(folder).is_dir():
        t.problem("dir", f"no such folder '{folder}'")
    t.finish()
    return TemplatesConfig(dir=folder)


def _satisfaction(t: Table) -> SatisfactionConfig:
    satisfaction = SatisfactionConfig(
        check=t.boolean("check", True),
        check_after=t.checked("check_after", parse_duration("3 business days"), _lasting),
        close_after=t.checked("close_after", parse_duration("7 days"), _lasting),
    )
    t.finish()
    return satisfaction


def _lasting(text: str) -> Duration:
    duration = parse_duration(text)
    if duration.amount <= 0:
        raise ValueError(f"must be longer than nothing, got {text!r}")
    return duration


def _limits(t: Table) -> LimitsConfig:
    dotless = (frozenset(t.each("dotless_domains", _domain)) if t.has("dotless_domains")
               else DOTLESS_DOMAINS)
    limits = LimitsConfig(
        auto_letters_per_day=t.integer("auto_letters_per_day", 3, low=1),
        auto_letters_per_hour=t.integer("auto_letters_per_hour", 100, low=0),
        staff_notices_per_hour=t.integer("staff_notices_per_hour", 5, low=1),
        dotless_domains=dotless,
        # The header block and the start of the body must fit under the cap.
        raw_max=t.checked("raw_max", RAW_MAX, lambda v: checks.byte_size(v, low=16 * 1024)),
        message_budget=t.interval("message_budget", "10s").total_seconds(),
        stops_before_quarantine=t.integer("stops_before_quarantine", 3, low=1),
    )
    t.finish()
    return limits


def _attachments(t: Table, limits: LimitsConfig) -> AttachmentsConfig:
    def size(text: str) -> int:
        return checks.byte_size(text, low=16 * 1024)

    # One figure: `max_size` here, or `[limits] raw_max` as older configs wrote it.
    max_size = t.checked("max_size", limits.raw_max, size)
    if t.has("max_size") and max_size != limits.raw_max and limits.raw_max != RAW_MAX:
        t.problem("max_size", "differs from [limits] raw_max, which means the same; "
                  "keep only [attachments] max_size")
    attachments = AttachmentsConfig(forward_max=t.checked("forward_max", FORWARD_MAX, size),
                                    max_size=max_size)
    t.finish()
    return attachments


def _domain(raw: object) -> str:
    """A mail domain as written after the `@` ("gmail.com"), lower-cased."""
    if not isinstance(raw, str) or "@" in raw or "." not in raw.strip(".") or raw != raw.strip():
        raise ValueError(f"expected a mail domain such as \"gmail.com\", got {raw!r}")
    return raw.lower()


def _logging(t: Table) -> LoggingConfig:
    settings = LoggingConfig(
        format=t.choice("format", "auto", logs.FORMATS),
        level=t.choice("level", "info", logs.LEVELS),
    )
    t.finish()
    return settings


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text
