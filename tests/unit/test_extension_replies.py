"""ACK / EXTEND commands in a manager's reply, and the customer's letter about a new date."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triaged.core.letters.customer import ExtensionFacts, extension_letter, promised_words
from triaged.core.letters.render import Renderer
from triaged.domain.errors import ApprovalRefused
from triaged.domain.records import Address
from triaged.usecases.escalation_replies import find_command
from triaged.usecases.promises import parse_extension

TOKEN = "escalation-1-0-tpo1co-7qdddmaq22v5ij3vvjya"


@pytest.mark.parametrize(
    ("text", "subject", "expected"),
    [
        ("ACK", "Re: Overdue", ("ACK", "")),
        ("  ack.\n\n> quoted ACK", "", ("ACK", "")),
        ("Acknowledged", "", ("ACK", "")),
        ("EXTEND 3 business days", "", ("EXTEND", "3 business days")),
        ("extend: 2 hours!", "", ("EXTEND", "2 hours")),
        ("> EXTEND 3 days\n\nEXTEND 1 day", "", ("EXTEND", "1 day")),  # quotes are skipped
        # The first line of the manager's own words decides: no command hidden further down.
        ("Thanks, I am on it.\nACK", "Re: Overdue", None),
        # A tapped mailto: link with an empty body: the subject carries the command.
        ("", f"ACK K7M-Q3X9 [#{TOKEN}]", ("ACK", "K7M-Q3X9")),
        ("", f"Re: AW: EXTEND 2 days [#{TOKEN}]", ("EXTEND", "2 days")),
        ("", "Re: [Acme] Overdue: 1 complaint", None),
        ("ACKNOWLEDGEMENT of receipt", "", None),
    ],
)
def test_the_command_is_the_first_line_of_the_managers_own_words(
    text: str, subject: str, expected: tuple[str, str] | None
) -> None:
    assert find_command(text, subject) == expected


@pytest.mark.parametrize(("text", "why"), [
    ("soon", "expected a duration"),
    ("3 fortnights", "unknown time unit"),
    ("0 days", "longer than zero"),
    ("2 business weeks", "not weeks"),
])
def test_a_bad_duration_is_refused_with_an_example(text: str, why: str) -> None:
    with pytest.raises(ApprovalRefused, match=why):
        parse_extension(text)


OLD = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NEW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
# A phrase of apology each letter must contain, in its own language.
APOLOGY = {
    "en": "we are sorry", "de": "tut uns aufrichtig leid", "es": "lo sentimos de verdad",
    "fr": "sincèrement désolés", "ja": "申し訳ございません", "ko": "사과드립니다",
    "ro": "ne pare sincer rău", "th": "ขออภัย", "tl": "Ikinalulungkot",
}


@pytest.mark.parametrize("language", sorted(APOLOGY))
def test_the_extension_letter_apologises_and_gives_both_dates_in_the_customers_language(
    language: str,
) -> None:
    letter = extension_letter(
        ExtensionFacts(business_name="Acme Bakery", customer=Address("c@example.test", "Ana"),
                       reference="K7M-Q3X9", subject="Re: Cake", old_due_at=OLD, new_due_at=NEW,
                       timezone="Europe/Bucharest", language=language,
                       in_reply_to="<ours@acme.example>",
                       references=("<theirs@example.test>", "<ours@acme.example>")),
        Renderer(),
    )
    assert letter.language == language
    text = " ".join(letter.text.split())
    for at in (OLD, NEW):
        day, time = promised_words(at, "Europe/Bucharest", language)
        assert " ".join(day.split()) in text
        assert " ".join(time.split()) in text
    assert APOLOGY[language] in text
    assert "K7M-Q3X9" in letter.subject
    assert "Ana" in text
    assert letter.in_reply_to == "<ours@acme.example>"
    assert letter.auto_submitted == "auto-generated"
    new_day, _ = promised_words(NEW, "Europe/Bucharest", language)
    assert f"<strong>{new_day}" in letter.html
