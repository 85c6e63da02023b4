"""`triaged check`: try every outside dependency once, without sending anything.

Each check gives one row: ok, warn (works, but the operator should know) or
FAIL (triaged cannot do its job). Rows never carry a password, token or key.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import aiosmtplib
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from triaged.adapters.imap import ImapSource
from triaged.adapters.ports import Cursor, MailSource
from triaged.adapters.smtp import describe_outage
from triaged.app import make_source, make_transport
from triaged.config.records import Config, MailboxConfig
from triaged.config.url_secrets import redact_url
from triaged.core.letters.render import Renderer
from triaged.core.report import charts
from triaged.domain.errors import TriagedError
from triaged.ops.checks_templates import render_language, unused_override_files
from triaged.replies.key_strength import weakness
from triaged.store import cursor_rows
from triaged.store.db import head_revision, make_engine, newer_than_code, schema_status
from triaged.usecases.polling import left_alone_hint


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str

    @property
    def ok(self) -> bool:
        """Whether triaged can work with this (a warning still can)."""
        return self.status is not Status.FAIL


class Failed(Exception):
    """Raised by a probe that found triaged cannot work this way; says why and what to do."""


class Warned(Exception):
    """Raised by a probe whose dependency works but needs the operator's attention."""


def _attempt(name: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, Status.OK, probe())
    except Warned as warning:
        return CheckResult(name, Status.WARN, str(warning))
    except (Failed, TriagedError) as error:
        # Our own errors are written for the operator already.
        return CheckResult(name, Status.FAIL, str(error))
    except Exception as error:  # noqa: BLE001 - every failure becomes one line of the table
        return CheckResult(name, Status.FAIL, f"{type(error).__name__}: {error}")


def run_checks(config: Config) -> list[CheckResult]:
    results = [CheckResult("config", Status.OK, config.path)]
    results.append(_attempt("database", partial(_database, config)))
    for mailbox in config.mailboxes:
        results.append(_attempt(f"mailbox {mailbox.name}", partial(_mailbox, config, mailbox)))
    results.append(_attempt("smtp", partial(_smtp, config)))
    results.append(_attempt("approval key", partial(_approval_key, config)))
    renderer = Renderer(config.templates.dir, config.business.language)
    for language in sorted(renderer.languages):
        results.append(_attempt(f"templates {language}",
                                partial(render_language, config, renderer, language)))
    if config.report.to:
        results.append(_report(config))
    unused = unused_override_files(config.templates.dir)
    if unused:
        results.append(CheckResult("templates dir", Status.WARN,
                                   f"no letter uses {', '.join(unused)} (misspelt?)"))
    return results


def _report(config: Config) -> CheckResult:
    report = config.report
    when = (f"every {report.every}" if report.every else "only on demand")
    if not charts.available():
        return CheckResult("report", Status.WARN,
                           "the owner's report needs matplotlib for its charts (install "
                           "triaged[report]); without it the letter goes with text only")
    missing = charts.missing_fonts()
    if missing:
        return CheckResult("report", Status.WARN,
                           f"{when}; no font for {', '.join(missing)} names on the charts "
                           "(Debian: fonts-noto-cjk, fonts-thai-tlwg): they would show as boxes")
    return CheckResult("report", Status.OK, f"{when} to {', '.join(report.to)}")


def _database(config: Config) -> str:
    url = make_url(config.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # Connecting would create the file, owned by whoever runs `check` (often
        # root), and the service user could then not write it.
        file = Path(url.database)
        if not file.exists():
            if not file.parent.is_dir():
                raise Failed(f"folder {file.parent} does not exist")
            raise Warned(f"{file} does not exist yet; `triaged run` creates it "
                           f"(schema {head_revision()})")
    engine = make_engine(config.database.url)
    try:
        status = schema_status(engine)
    except SQLAlchemyError as error:
        # The driver's own words, without SQLAlchemy's SQL echo and help link.
        raise Failed(f"{redact_url(config.database.url)}: cannot connect: "
                     f"{getattr(error, 'orig', None) or error}") from error
    finally:
        engine.dispose()
    if status.up_to_date:
        return f"schema at {status.head} (the newest)"
    if status.current is None:
        raise Warned(f"no schema yet; `triaged run` creates it ({status.head})")
    if status.ahead:
        raise Failed(newer_than_code(status))
    if not config.database.migrate_on_start:
        raise Failed(f"schema at {status.current}, this version needs {status.head}; run "
                     "`triaged migrate` (migrate_on_start is off)")
    raise Warned(f"schema at {status.current}, the newest is {status.head}; "
                 "`triaged run` upgrades it")


def _mailbox(config: Config, mailbox: MailboxConfig) -> str:
    source = make_source(mailbox)
    if isinstance(source, ImapSource):
        found = source.probe()
    else:
        source.connect()
        found = f"reachable: Maildir {mailbox.maildir}"
    try:
        note = _left_alone(config, mailbox, source)
    finally:
        source.close()
    if note:
        raise Warned(f"{found}; {note}")
    return found


def _left_alone(config: Config, mailbox: MailboxConfig, source: MailSource) -> str:
    """What `start = "now"` leaves (or left) alone in the folder, and how to take it."""
    if mailbox.start != "now":
        return ""
    stored = _stored_cursor(config, mailbox)
    if stored is None:
        count = source.count_left_alone(source.first_cursor("now"))
        return left_alone_hint(mailbox.name, count, before_first_run=True) if count else ""
    count = source.count_left_alone(Cursor(stored.uidvalidity, stored.last_uid, stored.floor))
    return left_alone_hint(mailbox.name, count) if count else ""


def _stored_cursor(config: Config, mailbox: MailboxConfig) -> cursor_rows.StoredCursor | None:
    """The mailbox's cursor, or None before its first poll (or with no database yet:
    `check` never creates one)."""
    url = make_url(config.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not Path(url.database).exists():
        return None
    engine = make_engine(config.database.url)
    try:
        with engine.connect() as conn:
            return cursor_rows.read_cursor(conn, mailbox.name, mailbox.folder)
    except SQLAlchemyError:
        return None  # the database row says why
    finally:
        engine.dispose()


def _smtp(config: Config) -> str:
    try:
        return f"{make_transport(config).probe()} (nothing sent)"
    except (aiosmtplib.SMTPException, OSError, ValueError) as error:
        raise Failed(describe_outage(error)[1]) from error


def _approval_key(config: Config) -> str:
    approval = config.approval
    if approval.secret is None:
        missing = ("approval requests cannot be sent and escalations carry no ACK/EXTEND "
                   "instructions: set approval.secret_file")
        if config.managers:
            raise Failed(f"no key, but managers are configured: {missing}")
        raise Warned(f"no key: {missing}")
    problem = weakness(approval.secret.reveal())
    if problem is not None:
        raise Failed(f"{approval.secret_file}: {problem}")
    mode = stat.S_IMODE(os.stat(approval.secret_file).st_mode)
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        # Whoever reads the key can approve any final letter.
        raise Failed(f"{approval.secret_file} can be read or written by every local "
                           f"user (mode {mode:04o}): `chmod 600` it (or 640 with the "
                           "service's group)")
    return f"{approval.secret_file}: strong enough, mode {mode:04o}"
