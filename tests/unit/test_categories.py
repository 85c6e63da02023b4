"""Categories and priorities from the config's rules, in the languages customers write."""

from __future__ import annotations

import pytest

from triaged.config.records import CategoryRule, PriorityRule
from triaged.core.categories import Sorting, sort_complaint
from triaged.domain.durations import parse_duration

DELIVERY = CategoryRule(
    "delivery",
    ("late", "not arrived", "Lieferung", "en retard", "配達", "배송", "จัดส่ง", "hindi dumating"),
    parse_duration("3 business days"),
)
BILLING = CategoryRule("billing", ("refund*", "invoice", "charged twice", "返金", "환불"))
QUALITY = CategoryRule("quality", ("stale", "mould", "crushed"))
CATEGORIES = (DELIVERY, BILLING, QUALITY)

VIP = PriorityRule("vip", (), ("buyer@hotel.example", "@chain.example"),
                   parse_duration("4 business hours"))
URGENT = PriorityRule("urgent", ("urgent", "asap", "dringend", "至急", "긴급"),
                      (), parse_duration("1 business day"))
PRIORITIES = (VIP, URGENT)


def sort(text: str, subject: str = "", sender: str = "someone@customer.example") -> Sorting:
    return sort_complaint(subject=subject, text=text, sender=sender,
                          categories=CATEGORIES, priorities=PRIORITIES)


@pytest.mark.parametrize(
    ("subject", "text", "category", "keywords"),
    [
        ("Order 1234", "The parcel has not arrived yet.", "delivery", ("not arrived",)),
        ("", "The parcel has NOT\nARRIVED yet.", "delivery", ("not arrived",)),
        ("Die Lieferung", "Wo bleibt sie?", "delivery", ("Lieferung",)),
        ("", "Ma commande est en retard.", "delivery", ("en retard",)),
        ("", "ケーキの配達がまだです。", "delivery", ("配達",)),
        ("", "배송이 늦어요", "delivery", ("배송",)),
        ("", "การจัดส่งล่าช้ามาก", "delivery", ("จัดส่ง",)),
        ("", "Hindi dumating ang order ko.", "delivery", ("hindi dumating",)),
        ("", "I want a refund.", "billing", ("refund*",)),
        ("", "Your shop refunded the wrong amount.", "billing", ("refund*",)),
        ("", "返金してください", "billing", ("返金",)),
        ("", "환불을 원합니다", "billing", ("환불",)),
        ("Ｌａｔｅ", "full-width letters", "delivery", ("late",)),
        # More different keywords win over the rule listed first.
        ("Late", "The invoice is wrong and I was charged twice.", "billing",
         ("invoice", "charged twice")),
        # A tie goes to the rule listed first.
        ("", "Late and the invoice is wrong.", "delivery", ("late",)),
    ],
)
def test_the_category_is_found_in_any_language(
    subject: str, text: str, category: str, keywords: tuple[str, ...]
) -> None:
    sorting = sort(text, subject)
    assert (sorting.category, sorting.category_keywords) == (category, keywords)


@pytest.mark.parametrize(
    "text",
    ["I love your chocolate cake.",  # "late" inside a word is not lateness
     "The translated menu was fine.",
     "Nothing to see here."],
)
def test_a_keyword_inside_another_word_is_no_match(text: str) -> None:
    assert sort(text).category == ""


def test_a_complaint_no_rule_matches_is_uncategorised_and_normal() -> None:
    sorting = sort("Hello, just a question.")
    assert (sorting.category, sorting.priority, sorting.resolve_within) == ("", "normal", None)


@pytest.mark.parametrize(
    ("sender", "text", "priority", "matched"),
    [
        ("Buyer@Hotel.example", "A question.", "vip", "buyer@hotel.example"),
        ("anyone@chain.example", "A question.", "vip", "@chain.example"),
        ("anyone@notchain.example", "A question.", "normal", ""),
        ("x@customer.example", "This is URGENT!", "urgent", "urgent"),
        ("x@customer.example", "Bitte dringend antworten", "urgent", "dringend"),
        ("x@customer.example", "至急お願いします", "urgent", "至急"),
        # The first matching rule wins: a VIP writing "urgent" is VIP.
        ("anyone@chain.example", "urgent", "vip", "@chain.example"),
    ],
)
def test_the_priority_comes_from_vip_senders_and_urgent_words(
    sender: str, text: str, priority: str, matched: str
) -> None:
    sorting = sort(text, sender=sender)
    assert (sorting.priority, sorting.priority_match) == (priority, matched)


def test_the_priority_promise_beats_the_category_promise() -> None:
    assert sort("It has not arrived.").resolve_within == parse_duration("3 business days")
    urgent_late = sort("It has not arrived, urgent!")
    assert urgent_late.category == "delivery"
    assert urgent_late.resolve_within == parse_duration("1 business day")
    assert sort("A refund please").resolve_within is None  # billing sets none: [sla] applies


def test_the_event_detail_says_what_matched() -> None:
    assert sort("Late, and urgent.").detail() == {
        "category": "delivery", "matched_keywords": ["late"],
        "priority": "urgent", "priority_matched": "urgent",
    }
