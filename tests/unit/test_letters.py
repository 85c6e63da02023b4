"""The holding letter in every language we ship: reference, local date, name, no English left."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from triaged.core.letters.customer import (
    HoldingFacts,
    bare_subject,
    holding_letter,
    local_date_words,
)
from triaged.core.letters.render import Renderer, builtin_templates_dir
from triaged.domain.records import Address

# Wednesday 2 December 2026, 17:00 in Bucharest.
DUE = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
REFERENCE = "K7M-Q3X9"

# language, customer name as it arrives, greeting, due date words, due time words,
# fallback subject (customer's subject empty)
CASES = [
    ("en", "Maria Popescu", "Dear Maria Popescu,", "Wednesday, December 2, 2026",
     "5 PM (Romania Time)",
     "Your message to Acme Bakery"),
    ("ko", "김민준", "김민준 고객님,", "2026년 12월 2일 수요일", "오후 5시 (루마니아 시간)",
     "Re: Acme Bakery 문의 접수 안내"),
    ("ja", "山田 太郎", "山田 太郎 様", "2026年12月2日水曜日", "17:00（ルーマニア時間）",
     "Re: Acme Bakeryへのお問い合わせについて"),
    ("th", "สมชาย ใจดี", "เรียน คุณสมชาย ใจดี", "วันพุธที่ 2 ธันวาคม พ.ศ. 2569",
     "17:00 น. (เวลาโรมาเนีย)", "Re: เรื่องที่ท่านติดต่อ Acme Bakery"),
    ("ro", "Ioana Țărnă", "Bună ziua, Ioana Țărnă,", "miercuri, 2 decembrie 2026",
     "17:00 (Ora din România)",
     "Re: Mesajul dumneavoastră către Acme Bakery"),
    ("tl", "Juan dela Cruz", "Magandang araw po, Juan dela Cruz!",
     "Miyerkules, Disyembre 2, 2026", "5 PM (Oras sa Romania)",
     "Re: Ang inyong mensahe sa Acme Bakery"),
    ("de", "Jürgen Groß", "Guten Tag Jürgen Groß,", "Mittwoch, 2. Dezember 2026",
     "17:00 Uhr (Ortszeit Rumänien)",
     "Re: Ihre Nachricht an Acme Bakery"),
    ("fr", "Hélène Lefèvre", "Bonjour Hélène Lefèvre,", "mercredi 2 décembre 2026",
     "17:00 (heure : Roumanie)",
     "Re: Votre message à Acme Bakery"),
    ("es", "José Núñez", "Hola, José Núñez:", "miércoles, 2 de diciembre de 2026",
     "17:00 (hora de Rumanía)",
     "Re: Su mensaje a Acme Bakery"),
]
LANGUAGES = [case[0] for case in CASES]
# Words of the English letter that must not survive into a translation.
ENGLISH = ("Dear", "Hello", "thank", "complaint", "What happens next", "at the latest",
           "regards", "acknowledgement", "Your message", "keep the")


def facts(language: str, name: str, subject: str = "Tort strivit") -> HoldingFacts:
    return HoldingFacts(
        business_name="Acme Bakery", customer=Address("customer@example.com", name),
        reference=REFERENCE, subject=subject, received_at=RECEIVED, due_at=DUE,
        timezone="Europe/Bucharest", language=language, in_reply_to="<c1@customer.example>",
        references=("<c0@customer.example>",),
    )


def test_every_shipped_language_has_all_three_holding_parts() -> None:
    base = builtin_templates_dir()
    shipped = sorted(p.name for p in base.iterdir() if p.is_dir())
    assert set(shipped) >= {"en", "ko", "ja", "th", "ro", "tl"}
    assert shipped == sorted(LANGUAGES)
    for language in shipped:
        for part in ("subject", "txt", "html"):
            assert (base / language / f"holding.{part}.j2").is_file(), (language, part)


@pytest.mark.parametrize(("language", "name", "greeting", "date", "time", "_fallback"), CASES,
                         ids=LANGUAGES)
def test_holding_letter_speaks_the_language(
    language: str, name: str, greeting: str, date: str, time: str, _fallback: str
) -> None:
    letter = holding_letter(facts(language, name), Renderer())

    assert letter.language == language
    assert letter.subject == f"Re: Tort strivit [{REFERENCE}]"
    assert letter.text.startswith(greeting + "\n")
    for body in (letter.text, letter.html):
        assert REFERENCE in body
        assert date in body
        # The promise names the business's zone in the customer's language.
        assert time in " ".join(body.split())
        assert name in body
    assert f'<html lang="{language}">' in letter.html
    assert letter.in_reply_to == "<c1@customer.example>"
    assert letter.references == ("<c0@customer.example>", "<c1@customer.example>")
    if language != "en":
        leftovers = [w for w in ENGLISH if w.lower() in letter.text.lower()]
        assert leftovers == []


@pytest.mark.parametrize(("language", "_name", "_greeting", "_date", "_time", "fallback"), CASES,
                         ids=LANGUAGES)
def test_an_empty_subject_gets_a_subject_in_the_language(
    language: str, _name: str, _greeting: str, _date: str, _time: str, fallback: str
) -> None:
    letter = holding_letter(facts(language, "X", subject="  "), Renderer())
    assert letter.subject == f"{fallback} [{REFERENCE}]"


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_nameless_customer_is_still_greeted_in_the_language(language: str) -> None:
    letter = holding_letter(facts(language, ""), Renderer())
    first_line = letter.text.splitlines()[0]
    assert first_line.strip()
    assert "None" not in first_line
    if language != "en":
        assert not any(w.lower() in first_line.lower() for w in ENGLISH)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_customer_name_is_escaped_in_html(language: str) -> None:
    letter = holding_letter(facts(language, "<b>Eve</b>"), Renderer())
    assert "<b>Eve</b>" not in letter.html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in letter.html
    assert "<b>Eve</b>" in letter.text


@pytest.mark.parametrize(("wanted", "expected"), [
    ("ko", "ko"), ("ko-KR", "ko"), ("vi", "en"), ("", "en"), ("tl", "tl"),
])
def test_a_language_without_templates_falls_back_to_the_default(wanted: str,
                                                                  expected: str) -> None:
    assert holding_letter(facts(wanted, "Ana"), Renderer()).language == expected


def test_a_business_override_folder_adds_a_language(tmp_path: Path) -> None:
    folder = tmp_path / "vi"
    folder.mkdir()
    (folder / "holding.subject.j2").write_text("Re: {{ subject }} [{{ reference }}]")
    (folder / "holding.txt.j2").write_text("Kính gửi {{ customer_name }}, {{ promised_date }}")
    (folder / "holding.html.j2").write_text("<p>{{ reference }}</p>")
    letter = holding_letter(facts("vi", "Nguyễn Văn An"), Renderer(tmp_path))
    assert letter.language == "vi"
    assert letter.text == "Kính gửi Nguyễn Văn An, Thứ Tư, 2 tháng 12, 2026"


@pytest.mark.parametrize(("at", "language", "expected"), [
    (DUE, "ko", ("2026년 12월 2일 수요일", "오후 5시")),
    (datetime(2026, 12, 2, 7, 30, tzinfo=UTC), "ko", ("2026년 12월 2일 수요일", "오전 9시 30분")),
    (DUE, "ja", ("2026年12月2日水曜日", "17:00")),
    (DUE, "th", ("วันพุธที่ 2 ธันวาคม พ.ศ. 2569", "17:00 น.")),
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "th", ("วันศุกร์ที่ 1 มกราคม พ.ศ. 2570",
                                                         "01:30 น.")),
    (DUE, "ro", ("miercuri, 2 decembrie 2026", "17:00")),
    (DUE, "de", ("Mittwoch, 2. Dezember 2026", "17:00")),
    (DUE, "pt-BR", ("quarta-feira, 2 de dezembro de 2026", "17:00")),
])
def test_local_date_words_in_the_business_time_zone(
    at: datetime, language: str, expected: tuple[str, str]
) -> None:
    assert local_date_words(at, "Europe/Bucharest", language) == expected


@pytest.mark.parametrize(("subject", "expected"), [
    ("Re: 답장: 케이크 [K7M-Q3X9]", "케이크"),
    ("AW: WG: Torte", "Torte"),
    ("RE: 転送: ケーキ", "ケーキ"),
])
def test_bare_subject(subject: str, expected: str) -> None:
    assert bare_subject(subject) == expected


def test_a_business_language_without_letters_falls_back_to_english() -> None:
    # An Italian shop that has not written its Italian letters yet: English, not a crash.
    letter = holding_letter(facts("vi", "Nguyễn Văn An"), Renderer(default_language="it"))
    assert letter.language == "en"
    assert letter.text.startswith("Dear Nguyễn Văn An,")
