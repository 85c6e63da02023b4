"""The letters that close a complaint: the approved final letter and the satisfaction check (pure).

Both go to the customer in their language, threaded into their conversation
(`Re:` their subject with the reference, In-Reply-To their latest message,
References the whole chain). The resolution is staff's text as a manager
approved it: it enters the templates as data only, never as template source,
and is escaped in the HTML part like any other variable.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from triaged.core.letters.customer import bare_subject
from triaged.core.letters.excerpt import subject_excerpt
from triaged.core.letters.render import Renderer
from triaged.domain.records import Address, Letter, LetterKind


@dataclass(frozen=True)
class ClosingFacts:
    """What the final letter and the satisfaction check say, and where they thread."""

    business_name: str
    customer: Address
    reference: str
    subject: str
    language: str
    in_reply_to: str
    references: tuple[str, ...]
    resolution: str = ""


def paragraphs(text: str) -> list[list[str]]:
    """`text` as paragraphs of lines (blank lines separate paragraphs), for the HTML part."""
    blocks = [block.strip("\n") for block in text.replace("\r\n", "\n").split("\n\n")]
    return [[line.rstrip() for line in block.split("\n")] for block in blocks if block.strip()]


def _letter(kind: LetterKind, facts: ClosingFacts, renderer: Renderer) -> Letter:
    language = renderer.pick_language(facts.language, kind)
    context = {
        "business_name": facts.business_name,
        "customer_name": subject_excerpt(facts.customer.name),
        "customer_email": facts.customer.email,
        "reference": facts.reference,
        "subject": bare_subject(facts.subject),
        "resolution": facts.resolution.strip(),
        "resolution_paragraphs": paragraphs(facts.resolution),
    }
    parts = renderer.render(language, kind, context)
    chain = (*facts.references, *((facts.in_reply_to,) if facts.in_reply_to else ()))
    return Letter(kind=kind, to=facts.customer, subject=parts.subject, text=parts.text,
                  html=parts.html, language=language, in_reply_to=facts.in_reply_to,
                  references=tuple(dict.fromkeys(chain)))


def final_letter(facts: ClosingFacts, renderer: Renderer) -> Letter:
    """Thanks, the reference, an apology, the approved resolution and our signature.

    Written by people and approved by a manager, so it is not marked as an
    automatic reply (`Auto-Submitted: no`, RFC 3834).
    """
    letter = _letter(LetterKind.FINAL, facts, renderer)
    return replace(letter, auto_submitted="no")


def satisfaction_letter(facts: ClosingFacts, renderer: Renderer) -> Letter:
    """A short question some days after the final letter: is the matter settled?"""
    letter = _letter(LetterKind.SATISFACTION, facts, renderer)
    return replace(letter, auto_submitted="auto-generated")
