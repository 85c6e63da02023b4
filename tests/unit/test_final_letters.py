"""The final letter and the satisfaction check in every language the holding reply has."""

from __future__ import annotations

import pytest

from triaged.core.letters.final import ClosingFacts, final_letter, paragraphs, satisfaction_letter
from triaged.core.letters.render import Renderer
from triaged.core.reply_text import says_settled
from triaged.domain.records import Address

LANGUAGES = ["de", "en", "es", "fr", "ja", "ko", "ro", "th", "tl"]
RESOLUTION = "We refund 45 euros.\n\nA new cake <b>comes</b> on Friday. {{ 7*7 }}"


def facts(language: str) -> ClosingFacts:
    return ClosingFacts(business_name="Acme Bakery", customer=Address("m@x.example", "Maria"),
                        reference="K7M-Q3X9", subject="Re: Cake crushed", language=language,
                        in_reply_to="<c2@x.example>", references=("<c1@x.example>",),
                        resolution=RESOLUTION)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_final_letter_wraps_the_resolution_in_the_customers_language(language: str) -> None:
    letter = final_letter(facts(language), Renderer())
    assert letter.language == language
    assert letter.subject == "Re: Cake crushed [K7M-Q3X9]"
    assert "K7M-Q3X9" in letter.text
    assert "Maria" in letter.text
    assert "Acme Bakery" in letter.text
    assert RESOLUTION in letter.text  # verbatim, template syntax not run
    assert "&lt;b&gt;comes&lt;/b&gt;" in letter.html
    assert "<b>comes</b>" not in letter.html
    assert letter.in_reply_to == "<c2@x.example>"
    assert letter.references == ("<c1@x.example>", "<c2@x.example>")
    assert letter.auto_submitted == "no"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_satisfaction_check_is_written_in_every_language(language: str) -> None:
    letter = satisfaction_letter(facts(language), Renderer())
    assert letter.language == language
    assert "K7M-Q3X9" in letter.text
    assert RESOLUTION not in letter.text
    assert letter.auto_submitted == "auto-generated"


def test_letters_differ_by_language() -> None:
    texts = {final_letter(facts(lang), Renderer()).text for lang in LANGUAGES}
    assert len(texts) == len(LANGUAGES)


def test_paragraphs_split_on_blank_lines() -> None:
    assert paragraphs("a\nb\n\n\nc\r\n") == [["a", "b"], ["c"]]


@pytest.mark.parametrize(
    ("reply", "settled"),
    [
        ("Yes, thank you!", True),
        ("Ja, danke!\n\nMaria", True),
        ("Oui merci", True),
        ("はい", True),
        ("네, 감사합니다", True),
        ("ใช่ค่ะ", True),
        ("Opo, salamat po", True),
        ("Yes, but the cake never came", False),
        ("No, the new cake never arrived.", False),
        ("Nein, die neue Torte ist nie angekommen.", False),
        ("The cake was fine but the invoice is wrong and I want a refund now", False),
        ("", False),
        ("Yes\n\nOn Thu, Nov 26, 2026 at 10:00 AM Acme <a@b> wrote:\n> Is it settled?", True),
    ],
)
def test_only_a_plain_yes_counts_as_settled(reply: str, settled: bool) -> None:
    assert says_settled(reply) is settled
