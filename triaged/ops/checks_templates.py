"""`triaged check`, templates: every letter kind rendered in every language offered.

Customer letters and digests are written by their own letter functions with
sample facts, exactly as in service. The letters to staff and managers are
rendered from the same context keys their use cases pass (`usecases.approval`,
`replies.routing`, `notices`), in each variant (a notice per topic, a
rejection and a reopening, with and without reply instructions), so that a
template branch taken only in real life cannot hide a mistake. The business's
override folder is searched first, as in service; a file there that no letter
uses is reported, since it is most likely a misspelt name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import jinja2

from triaged.config.records import Config
from triaged.core.decision import EDIT_END, EDIT_START
from triaged.core.history import WHATS
from triaged.core.letters.customer import (
    ExtensionFacts,
    HoldingFacts,
    extension_letter,
    holding_letter,
    language_name,
)
from triaged.core.letters.final import ClosingFacts, final_letter, satisfaction_letter
from triaged.core.letters.render import Renderer
from triaged.core.letters.staff import DigestFacts, DigestItem, escalation_letter, reminder_letter
from triaged.domain.errors import TemplateFailure
from triaged.domain.records import Address, LetterKind
from triaged.usecases.notices import TOPICS

_TEMPLATE_FILE = re.compile(r"^(?P<kind>[a-z_]+)\.(subject|txt|html)\.j2$")
Render = Callable[[], object]


def render_language(config: Config, renderer: Renderer, language: str) -> str:
    """Render every letter kind `language` has a template for; what rendered.

    Raises TemplateFailure naming each kind that failed and why (template file and
    line for a syntax error), all of them at once.
    """
    rendered: list[str] = []
    failed: list[str] = []
    for kind, variants in _letters(config, renderer, language):
        if not renderer.has(language, kind):
            continue
        try:
            for render in variants:
                render()
        except jinja2.TemplateError as error:
            failed.append(f"{kind}: {_explain(error)}")
            continue
        rendered.append(kind.value)
    if failed:
        raise TemplateFailure("; ".join(failed))
    if not rendered:
        return "no letters in this language"
    return f"letters render: {', '.join(rendered)}"


def unused_override_files(folder: str) -> list[str]:
    """Files in the override folder that no letter would ever read, as "lang/name"."""
    if not folder:
        return []
    kinds = {kind.value for kind in LetterKind}
    unused = []
    for path in sorted(Path(folder).glob("*/*")):
        match = _TEMPLATE_FILE.match(path.name)
        if path.is_file() and (match is None or match["kind"] not in kinds):
            unused.append(f"{path.parent.name}/{path.name}")
    return unused


def _explain(error: jinja2.TemplateError) -> str:
    if isinstance(error, jinja2.TemplateSyntaxError):
        where = error.filename or error.name or "template"
        return f"{where}, line {error.lineno}: {error.message}"
    return error.message or type(error).__name__


def _letters(
    config: Config, renderer: Renderer, language: str
) -> Iterator[tuple[LetterKind, list[Render]]]:
    """Each letter kind with the renderings that exercise it, in a stable order."""
    now = datetime.now(UTC)
    business = config.business.name
    customer = Address("customer@example.com", "Customer")
    holding = HoldingFacts(
        business_name=business, customer=customer, reference="K7M-Q3X9", subject="Test",
        received_at=now, due_at=now + timedelta(days=3), timezone=config.business.timezone,
        language=language, in_reply_to="", references=(),
    )
    yield LetterKind.HOLDING, [lambda: holding_letter(holding, renderer)]
    extension = ExtensionFacts(
        business_name=business, customer=customer, reference=holding.reference,
        subject="Test", old_due_at=holding.due_at, new_due_at=holding.due_at + timedelta(days=2),
        timezone=holding.timezone, language=language, in_reply_to="", references=())
    yield LetterKind.EXTENSION, [lambda: extension_letter(extension, renderer)]
    closing = ClosingFacts(business_name=business, customer=customer,
                           reference=holding.reference, subject="Test", language=language,
                           in_reply_to="", references=(), resolution="We refund the cake.")
    yield LetterKind.FINAL, [lambda: final_letter(closing, renderer)]
    yield LetterKind.SATISFACTION, [lambda: satisfaction_letter(closing, renderer)]
    digests = [_digest(config, language, now, reply_to) for reply_to in
               ("support+token@example.com", "")]
    yield LetterKind.REMINDER, [partial(reminder_letter, d, renderer) for d in digests]
    yield LetterKind.ESCALATION, [partial(escalation_letter, d, renderer) for d in digests]
    for kind, contexts in _internal_contexts(business, holding.reference, language).items():
        yield kind, [partial(renderer.render, language, kind, c) for c in contexts]


def _digest(config: Config, language: str, now: datetime, reply_to: str) -> DigestFacts:
    # Staff letters are written in the business's language, else English.
    item = DigestItem(reference="K7M-Q3X9", customer=Address("customer@example.com", "Customer"),
                      subject="Test", received_at=now, due_at=now - timedelta(hours=2),
                      state="in_progress", category="", priority="normal", level=1,
                      first_text="Test", reply_to=reply_to)
    return DigestFacts(business_name=config.business.name, to=Address("dana@example.com"),
                       timezone=config.business.timezone, language=language, now=now,
                       items=(item,))


def _internal_contexts(
    business: str, reference: str, language: str
) -> dict[LetterKind, list[Mapping[str, Any]]]:
    """The contexts the use cases render letters to staff and managers with (one per
    variant); keep in step with `usecases.approval`, `replies.routing`, `notices` and
    `staff_digests`."""
    base = {"business_name": business, "reference": reference,
            "customer": "customer@example.com",
            "customer_label": "Customer <customer@example.com>", "subject": "Test",
            # The customer's language, named in the letter's (staff write in it).
            "language_name": language_name("ko", language)}
    when = "Monday 23 November 2026, 10:00"
    return {
        LetterKind.NEW_COMPLAINT: [
            {**base, "received": when, "due": when, "complaint_text": "It broke.",
             "can_reply": can_reply} for can_reply in (True, False)],
        LetterKind.APPROVAL_REQUEST: [_approval_request(base, when)],
        LetterKind.REFUSAL: [
            {"reason": "the token has expired", "sender": "dana@example.com",
             "subject": "Re: Test", "reference": ref, "business_name": business}
            for ref in (reference, "")],
        LetterKind.STAFF_NOTICE: _staff_notices(business, reference),
        LetterKind.STAFF_DIGEST: [
            {"business_name": business, "sender": "customer@example.com", "count": 2,
             "limit": 5, "items": [{"reference": reference, "subject": "Test"},
                                   {"reference": "H4K-P2W8", "subject": "Test again"}]}],
        LetterKind.APPROVED: [
            {**base, "version": 2, "edited": edited} for edited in (False, True)],
        LetterKind.REJECTED: [
            {**base, "reopened": False, "decided_by": "dana@example.com", "version": 1,
             "reason": "Offer a voucher too.", "can_reply": True},
            {**base, "reopened": True, "old_state": "resolved", "reason": "Still broken.",
             "version": 0, "decided_by": "", "can_reply": False}],
    }


def _approval_request(base: Mapping[str, Any], when: str) -> Mapping[str, Any]:
    # One entry of every kind the approval request's short history can show.
    history = [{"what": what, "when": when, "actor": "team@example.com",
                "customer": "customer@example.com", "version": 1, "level": 1,
                "reason": "too little"} for what in WHATS]
    return {**base, "version": 1, "drafted_by": "team@example.com",
            "resolution": "We refund the cake.", "edit_start": EDIT_START,
            "edit_end": EDIT_END, "final_subject": "Re: Test [K7M-Q3X9]",
            "final_text": "Dear Customer,\n\nWe refund the cake.\n",
            "history": history,
            "complaint_text": "It broke.", "expires": when, "manager_name": "Dana"}


def _staff_notices(business: str, reference: str) -> list[Mapping[str, Any]]:
    """A notice of every topic, soft and hard, its optional fields filled."""
    notice = {"business_name": business, "reference": reference, "subject": "Test"}
    return [{**notice, "topic": topic, "hard": hard, "customer_email": "customer@example.com",
             "customer_name": "Customer", "forwarder": "owner@example.com",
             "linked_reference": "H4K-P2W8", "letter_kind": "holding",
             "detail": "550 5.1.1 no such user", "address": "dana@example.com"}
            for topic in TOPICS for hard in (False, True)]
