"""`triaged check`: try every outside dependency once, without sending anything."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from triaged.app import make_source, make_transport
from triaged.config import Config, MailboxConfig
from triaged.domain import Address, LetterKind
from triaged.outbound.final import ClosingFacts, final_letter, satisfaction_letter
from triaged.outbound.letters import (
    ExtensionFacts,
    HoldingFacts,
    extension_letter,
    holding_letter,
)
from triaged.outbound.render import Renderer
from triaged.outbound.staff_letters import (
    DigestFacts,
    DigestItem,
    escalation_letter,
    reminder_letter,
)
from triaged.store.db import SchemaMismatch, make_engine, newer_than_code, schema_status


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


def _attempt(name: str, probe: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(name, True, probe())
    except Exception as error:  # noqa: BLE001 - every failure becomes one line of the table
        return CheckResult(name, False, f"{type(error).__name__}: {error}")


def run_checks(config: Config) -> list[CheckResult]:
    results = [CheckResult("config", True, config.path)]
    results.append(_attempt("database", partial(_database, config)))
    for mailbox in config.mailboxes:
        results.append(_attempt(f"mailbox {mailbox.name}", partial(_mailbox, mailbox)))
    results.append(_attempt("smtp", partial(_smtp, config)))
    renderer = Renderer(config.templates.dir, config.business.language)
    for language in sorted(renderer.languages):
        results.append(_attempt(f"templates {language}",
                                partial(_templates, config, renderer, language)))
    return results


def _database(config: Config) -> str:
    engine = make_engine(config.database.url)
    try:
        status = schema_status(engine)
    finally:
        engine.dispose()
    if status.ahead:
        raise SchemaMismatch(newer_than_code(status), ahead=True)
    if status.up_to_date:
        return f"schema at {status.head} (the newest)"
    current = status.current or "nothing yet"
    if not config.database.migrate_on_start:
        raise SchemaMismatch(f"at {current}, this version needs {status.head}; run "
                             "`triaged migrate` (migrate_on_start is off)", ahead=False)
    return f"schema at {current}; `triaged run` migrates it to {status.head}"


def _mailbox(mailbox: MailboxConfig) -> str:
    source = make_source(mailbox)
    source.connect()
    source.close()
    if mailbox.maildir:
        return f"reachable: Maildir {mailbox.maildir}"
    return (f"logged in to {mailbox.host}:{mailbox.port} as {mailbox.username}, "
            f"folder {mailbox.folder}")


def _smtp(config: Config) -> str:
    make_transport(config).probe()
    smtp = config.smtp
    return smtp.deliver_to_maildir or f"connected to {smtp.host}:{smtp.port} (nothing sent)"


def _templates(config: Config, renderer: Renderer, language: str) -> str:
    if not renderer.has(language, LetterKind.HOLDING):
        return "no holding letter in this language (the default language is used)"
    now = datetime.now(UTC)
    facts = HoldingFacts(
        business_name=config.business.name, customer=Address("customer@example.com", "Customer"),
        reference="K7M-Q3X9", subject="Test", received_at=now, due_at=now + timedelta(days=3),
        timezone=config.business.timezone, language=language, in_reply_to="", references=(),
    )
    letter = holding_letter(facts, renderer)
    rendered = [f"holding ({len(letter.text)} characters)"]
    customer, due = facts.customer, facts.due_at
    if renderer.has(language, LetterKind.EXTENSION):
        extension_letter(ExtensionFacts(
            business_name=facts.business_name, customer=customer, reference=facts.reference,
            subject="Test", old_due_at=due, new_due_at=due + timedelta(days=2),
            timezone=facts.timezone, language=language, in_reply_to="", references=()),
            renderer)
        rendered.append("extension")
    closing = ClosingFacts(business_name=facts.business_name, customer=customer,
                           reference=facts.reference, subject="Test", language=language,
                           in_reply_to="", references=(), resolution="We refund the cake.")
    for closing_kind, closing_letter in ((LetterKind.FINAL, final_letter),
                                         (LetterKind.SATISFACTION, satisfaction_letter)):
        if renderer.has(language, closing_kind):
            closing_letter(closing, renderer)
            rendered.append(closing_kind.value)
    # Staff letters are written in the business's language, else English.
    item = DigestItem(reference=facts.reference, customer=customer, subject="Test",
                      received_at=now, due_at=now - timedelta(hours=2), state="in_progress",
                      category="", priority="normal", level=1, first_text="Test",
                      reply_to="support+token@example.com")
    digest = DigestFacts(business_name=facts.business_name, to=Address("dana@example.com"),
                         timezone=facts.timezone, language=language, now=now, items=(item,))
    for kind, write in ((LetterKind.REMINDER, reminder_letter),
                        (LetterKind.ESCALATION, escalation_letter)):
        if renderer.has(language, kind):
            write(digest, renderer)
            rendered.append(kind.value)
    return f"letters render: {', '.join(rendered)}"
