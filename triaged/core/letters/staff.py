"""Letters to the business's own people: reminders and escalation digests (pure).

Written in the business's language when a template exists for it, else in
English. One letter lists every complaint due for that person in this run:
a manager on a phone gets one digest, not a storm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from babel.dates import format_timedelta

from triaged.core.letters.customer import bare_subject, local_date_words, promised_words
from triaged.core.letters.excerpt import DIGEST_CHARS, subject_excerpt, text_excerpt
from triaged.core.letters.render import FALLBACK_LANGUAGE, Renderer
from triaged.domain.records import Address, Letter, LetterKind

# A digest describes this many complaints in full (the latest first) and only
# names the rest: read on a phone, a hundred full entries help nobody, and
# rendering them would dominate the escalation run.
DETAILED_ITEMS = 25


@dataclass(frozen=True)
class DigestItem:
    """One complaint in a reminder or escalation letter."""

    reference: str
    customer: Address
    subject: str
    received_at: datetime
    due_at: datetime
    state: str
    category: str
    priority: str
    level: int = 0
    repeat: bool = False
    first_text: str = ""
    follow_ups: int = 0
    letters_sent: int = 0
    complaint_id: int = 0
    # Where the manager writes ACK or EXTEND about this complaint (a tokened
    # plus-address); "" when approvals have no secret and replies cannot count.
    reply_to: str = ""
    # The customer's complaints of the 12 months before this one: how many, and the
    # latest as "REFERENCE (state)".
    earlier_count: int = 0
    earlier: tuple[str, ...] = ()


@dataclass(frozen=True)
class DigestFacts:
    business_name: str
    to: Address
    timezone: str
    language: str
    now: datetime
    items: tuple[DigestItem, ...]


def _span(delta: timedelta, language: str) -> str:
    """"3 hours", "2 days": how late, or how long until the date, roughly."""
    return format_timedelta(abs(delta), threshold=1.5, locale=language.replace("-", "_"))


def _item(item: DigestItem, facts: DigestFacts, language: str) -> dict[str, Any]:
    due_date, due_time = promised_words(item.due_at, facts.timezone, language)
    got_date, got_time = local_date_words(item.received_at, facts.timezone, language)
    return {
        "reference": item.reference,
        "customer_name": subject_excerpt(item.customer.name),
        "customer_email": item.customer.email,
        "subject": bare_subject(item.subject),
        "received": f"{got_date}, {got_time}",
        "promised": f"{due_date}, {due_time}",
        "late": _span(facts.now - item.due_at, language) if facts.now >= item.due_at else "",
        "due_in": _span(item.due_at - facts.now, language) if facts.now < item.due_at else "",
        "state": item.state.replace("_", " "),
        "category": item.category,
        "priority": item.priority,
        "level": item.level,
        "repeat": item.repeat,
        "excerpt": text_excerpt(item.first_text, item.reference, DIGEST_CHARS),
        "follow_ups": item.follow_ups,
        "letters_sent": item.letters_sent,
        "reply_to": item.reply_to,
        "earlier_count": item.earlier_count,
        "earlier": ", ".join(item.earlier),
    }


def _digest(kind: LetterKind, facts: DigestFacts, renderer: Renderer) -> Letter:
    # "ko-KR" finds the "ko" letters; a language without them gets English.
    wanted = (facts.language, facts.language.split("-")[0])
    language = next((tag for tag in wanted if renderer.has(tag, kind)), FALLBACK_LANGUAGE)
    # Most urgent first: the longest overdue (or the soonest due) leads.
    ordered = sorted(facts.items, key=lambda i: (i.due_at, i.reference))
    detailed, rest = ordered[:DETAILED_ITEMS], ordered[DETAILED_ITEMS:]
    shown = [i.reference for i in ordered[:5]]
    context = {
        "business_name": facts.business_name,
        "recipient_name": facts.to.name,
        "count": len(facts.items),
        "level": max((i.level for i in facts.items), default=0),
        "references": ", ".join(shown) + (", …" if len(ordered) > len(shown) else ""),
        "items": [_item(i, facts, language) for i in detailed],
        "more": [i.reference for i in rest],
        # One complaint: a plain Reply reaches the right place (the token is in the
        # letter's headers); several: each has its own address to write to.
        "single": len(facts.items) == 1,
    }
    parts = renderer.render(language, kind, context)
    return Letter(kind=kind, to=facts.to, subject=parts.subject, text=parts.text,
                  html=parts.html, language=language, auto_submitted="auto-generated")


def reminder_letter(facts: DigestFacts, renderer: Renderer) -> Letter:
    """To staff: these complaints are due soon and have no final letter yet."""
    return _digest(LetterKind.REMINDER, facts, renderer)


def escalation_letter(facts: DigestFacts, renderer: Renderer) -> Letter:
    """To one manager: these complaints passed their promised date; what is known so far."""
    return _digest(LetterKind.ESCALATION, facts, renderer)
