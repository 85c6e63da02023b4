"""Reminder and escalation digests: what a manager reads on a phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triaged.core.letters.render import Renderer
from triaged.core.letters.staff import (
    DETAILED_ITEMS,
    DigestFacts,
    DigestItem,
    escalation_letter,
    reminder_letter,
)
from triaged.domain.records import Address, LetterKind

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def item(n: int, late: timedelta, text: str = "The cake was crushed.") -> DigestItem:
    return DigestItem(reference=f"REF-{n:04d}", customer=Address(f"c{n}@example.test", "Maria"),
                      subject=f"Re: Order {n}", received_at=NOW - timedelta(days=5),
                      due_at=NOW - late, state="in_progress", category="quality",
                      priority="urgent", level=1, first_text=text, follow_ups=2,
                      letters_sent=1)


def facts(items: list[DigestItem], language: str = "en") -> DigestFacts:
    return DigestFacts(business_name="Acme Bakery", to=Address("dana@acme.example", "Dana"),
                       timezone="Europe/Bucharest", language=language, now=NOW,
                       items=tuple(items))


def test_an_escalation_names_everything_a_manager_needs() -> None:
    letter = escalation_letter(facts([item(1, timedelta(hours=3), "<b>crushed</b> & late")]),
                               Renderer())
    assert letter.kind is LetterKind.ESCALATION
    assert letter.subject == "[Acme Bakery] Overdue: 1 complaint (REF-0001)"
    for words in ["Hello Dana", "REF-0001", "Order 1", "Maria <c1@example.test>",
                  "3 hours late", "category quality", "priority urgent",
                  "2 follow-ups from the customer", "1 letter sent to them",
                  "> <b>crushed</b> & late"]:
        assert words in letter.text, words
    # The customer's words are data: escaped in HTML, never markup.
    assert "&lt;b&gt;crushed&lt;/b&gt; &amp; late" in letter.html
    assert letter.auto_submitted == "auto-generated"


def test_a_long_digest_details_the_most_overdue_and_names_the_rest() -> None:
    items = [item(n, timedelta(minutes=n)) for n in range(DETAILED_ITEMS + 10)]
    letter = escalation_letter(facts(items), Renderer())
    # The most overdue (largest n) come first and in full; the 10 least overdue are named.
    assert f"1. REF-{DETAILED_ITEMS + 9:04d}" in letter.text
    assert "And 10 more: REF-0009, REF-0008" in letter.text
    assert letter.text.count("The customer wrote:") == DETAILED_ITEMS
    assert "Overdue: 35 complaints" in letter.subject


def test_staff_letters_fall_back_to_english_without_a_template_in_the_business_language() -> None:
    letter = reminder_letter(facts([item(1, -timedelta(hours=2))], language="vi"), Renderer())
    assert letter.language == "en"
    assert "in 2 hours" in letter.text
    assert letter.subject.startswith("[Acme Bakery] Due soon: 1 complaint")
