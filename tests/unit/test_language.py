"""Detection of the customer's language: own text, scripts, statistics, Content-Language."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from triaged.core.language import available_tag, detect_language, own_text, script_language
from triaged.domain.records import Address, ParsedMail

TEMPLATES = frozenset({"en", "ko", "ja", "th", "ro", "tl", "de", "fr", "es"})
LABELLED = Path(__file__).resolve().parent.parent / "data" / "language"


def mail(text: str, subject: str = "", content_language: str = "") -> ParsedMail:
    return ParsedMail(message_id="<m@customer.example>", sender=Address("c@customer.example"),
                      to=(), subject=subject, date=None, text=text,
                      content_language=content_language)


GMAIL_QUOTE_EN = "On Mon, 23 Nov 2026 at 10:00, Acme Bakery <support@acme.example> wrote:"


@pytest.mark.parametrize(("text", "expected"), [
    ("The cake was crushed.\n\n" + GMAIL_QUOTE_EN + "\n> Dear customer,\n> thank you",
     "The cake was crushed."),
    ("Unde sunt banii mei?\n\nOn Mon, 23 Nov 2026 at 10:00, Acme Bakery\n"
     "<support@acme.example> wrote:\n> Dear Maria", "Unde sunt banii mei?"),
    ("Der Kuchen war zerdrückt.\n\nAm Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Acme "
     "<support@acme.example>:\n> Dear", "Der Kuchen war zerdrückt."),
    ("Toujours rien.\n\nLe lun. 23 nov. 2026 à 10:00, Acme <s@acme.example> a écrit :\n> Dear",
     "Toujours rien."),
    ("Sigue sin llegar.\n\nEl lun, 23 nov 2026 a las 10:00, Acme (<s@acme.example>) escribió:\n"
     "> Dear", "Sigue sin llegar."),
    ("환불해 주세요.\n\n2026년 11월 23일 (월) 오전 10:00, Acme <s@acme.example>님이 작성:\n> Dear",
     "환불해 주세요."),
    ("まだ届きません。\n\n2026年11月23日(月) 10:00 Acme <support@acme.example>:\n> Dear",
     "まだ届きません。"),
    ("ยังไม่ได้ของเลย\n\nเมื่อ วันจันทร์ที่ 23 พ.ย. 2026 เวลา 10:00 Acme <s@acme.example> "
     "เขียนว่า:\n> Dear", "ยังไม่ได้ของเลย"),
    ("Wala pa rin po.\n\nNoong Lun, Nob 23, 2026 nang 10:00 AM, si Acme <s@acme.example> "
     "ay sumulat:\n> Dear", "Wala pa rin po."),
    ("Kuchen kaputt.\n\n-----Ursprüngliche Nachricht-----\nVon: Acme\nGesendet: Montag\n\nDear",
     "Kuchen kaputt."),
    ("Still broken.\n\n________________________________\nFrom: Acme\nSent: Monday\n\nDear",
     "Still broken."),
    ("Merci.\n\nDe : Acme <s@acme.example>\nEnvoyé : lundi 23 novembre 2026 10:00\n"
     "À : moi\nObjet : Re\n\nDear customer", "Merci."),
    ("Ang cake ay sira.\n-- \nJuan dela Cruz\nSent with love from Manila", "Ang cake ay sira."),
    ("Unde e comanda?\n\nSent from my iPhone", "Unde e comanda?"),
    ("See below.\n\n---------- Forwarded message ---------\nFrom: Kim <k@customer.example>\n"
     "Date: Mon, Nov 23, 2026\nSubject: 환불\nTo: <s@acme.example>\n\n케이크가 찌그러져서 왔어요.",
     "See below.\n\n케이크가 찌그러져서 왔어요."),
    ("Links carry no language: [our shop](https://acme.example/x), me@customer.example "
     "[K7M-Q3X9]", "Links carry no language: our shop,"),
    # A customer quoting someone in their own words is not a reply attribution.
    ("My son wrote: the cake tasted of soap.", "My son wrote: the cake tasted of soap."),
    ("> only a quote", ""),
])
def test_own_text_keeps_only_what_the_customer_wrote(text: str, expected: str) -> None:
    assert own_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Samsung Galaxy S24 Ultra 케이스 불량입니다", "ko"),
    ("iPhone 케이스를 주문했는데 Galaxy용이 왔어요.", "ko"),
    ("Apple Watch Series 9 のバンドが壊れていました", "ja"),
    ("返金してください。", "ja"),
    ("Air fryer Philips เสียแล้ว", "th"),
    ("我的订单一个星期了还没到。", None),  # Han alone: Chinese or Japanese, statistics decide
    ("I bought the 참이슬 gift box and two bottles arrived broken, please refund.", None),
    ("The cake was crushed.", None),
    ("", None),
])
def test_script_decides_korean_japanese_and_thai(text: str, expected: str | None) -> None:
    assert script_language(text) == expected


@pytest.mark.parametrize(("text", "header", "expected"), [
    # short texts
    ("환불해 주세요.", "", "ko"),
    ("まだ届きません。", "", "ja"),
    ("ของยังไม่มาส่ง", "", "th"),
    ("Unde sunt banii mei?", "", "ro"),
    ("Nasaan na po ang order ko?", "", "tl"),
    ("Hi po, yung order ko hindi pa dumating, 2 weeks na po.", "", "tl"),
    ("Falsche Ware geliefert.", "", "de"),  # py3langid's first reading is Luxembourgish
    ("Où est mon remboursement ?", "", "fr"),
    ("¿Dónde está mi reembolso?", "", "es"),
    ("Where is my refund?", "", "en"),
    # mixed scripts and quoted English under the customer's text
    ("AirPods Pro 2 배터리가 금방 닳아요", "", "ko"),
    ("주문한 케이크가 찌그러져서 도착했어요.\n\n" + GMAIL_QUOTE_EN + "\n> Dear Kim Min-jun,\n"
     "> thank you for writing to Acme Bakery. Telling us when something has gone wrong is\n"
     "> the only way we can put it right, and we are sorry.", "", "ko"),
    ("주문한 케이크가 찌그러져서 도착했어요.\n\n-----Original Message-----\nFrom: Acme\n"
     "Thank you for writing to Acme Bakery, we are sorry you had reason to complain.", "", "ko"),
    # Content-Language agreeing, deciding, contradicted, or naming no template
    ("Comanda nu a venit.", "ro", "ro"),
    ("Produto errado entregue.", "es", "es"),  # pt/gl/es are all plausible: the header decides
    ("OK", "ja", "ja"),
    ("", "th-TH", "th"),
    ("배송이 일주일째 안 오고 있습니다.", "en-US", "ko"),
    ("Die bestellte Torte kam völlig zerdrückt an.", "en", "de"),
    ("Le pain acheté hier était moisi.", "nl", "fr"),
    # nothing to go on, or a language we have no letters in
    ("", "", "en"),
    ("12345 !!!", "", "en"),
    ("我的订单一个星期了还没到。", "", "en"),
    ("Bánh mì mua hôm qua bị mốc.", "", "en"),
    ("De bestelde taart kwam helemaal geplet aan.", "", "en"),  # Dutch is not German
])
def test_detect_language(text: str, header: str, expected: str) -> None:
    assert detect_language(mail(text, content_language=header), default="en",
                           available=TEMPLATES) == expected


def test_a_short_body_borrows_the_subject() -> None:
    found = detect_language(mail("?", subject="Re: Comanda mea nu a sosit nici azi"),
                            default="en", available=TEMPLATES)
    assert found == "ro"


def test_the_default_is_returned_when_it_is_the_business_language() -> None:
    assert detect_language(mail("Bánh mì bị mốc."), default="ro", available=TEMPLATES) == "ro"


@pytest.mark.parametrize(("language", "available", "expected"), [
    ("ko", {"en", "ko"}, "ko"),
    ("en-US", {"en", "ko"}, "en"),
    ("KO-kr", {"en", "ko"}, "ko"),
    ("tl", {"en", "fil"}, "fil"),
    ("fil", {"en", "tl"}, "tl"),
    ("pt", {"en", "pt-BR"}, "pt-BR"),
    ("pt-BR", {"en", "pt-BR", "pt-PT"}, "pt-BR"),
    ("de", {"en"}, None),
    ("", {"en"}, None),
])
def test_available_tag_maps_codes_to_template_folders(
    language: str, available: set[str], expected: str | None
) -> None:
    assert available_tag(language, available) == expected


def labelled() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for path in sorted(LABELLED.glob("*.tsv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows.extend((r["lang"], r["text"]) for r in csv.DictReader(
                handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows


def test_labelled_complaints_in_fourteen_languages_are_recognised() -> None:
    samples = labelled()
    available = frozenset(lang for lang, _ in samples)
    assert len(available) >= 10
    wrong = Counter(lang for lang, text in samples
                    if detect_language(mail(text), default="und", available=available) != lang)
    per_language = Counter(lang for lang, _ in samples)
    assert min(per_language.values()) >= 10
    assert sum(wrong.values()) <= len(samples) * 0.02, wrong
    assert wrong["tl"] == 0
    assert all(wrong[lang] <= 1 for lang in per_language), wrong
