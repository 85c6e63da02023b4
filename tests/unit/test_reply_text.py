"""Only what the writer typed: the shapes Gmail, Outlook, Apple Mail and Thunderbird send."""

from __future__ import annotations

import pytest

from tests.support.client_replies import (
    APPLE,
    GMAIL,
    GMAIL_HTML,
    OUTLOOK_DESKTOP,
    OUTLOOK_HTML,
    OUTLOOK_MOBILE,
    THUNDERBIRD,
)
from triaged.core.decision import EDIT_END, EDIT_START, parse_decision
from triaged.core.parse.html import html_to_text
from triaged.core.reply_text import new_text
from triaged.domain.errors import ApprovalRefused


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    [
        (GMAIL, "approve", ""),
        (OUTLOOK_DESKTOP, "reject", "the refund must be 20 euros, not 15"),
        (OUTLOOK_MOBILE, "approve", ""),
        (APPLE, "approve", ""),
        (THUNDERBIRD, "reject", "we never promised delivery on Sunday"),
        (html_to_text(GMAIL_HTML), "approve", ""),
        (html_to_text(OUTLOOK_HTML), "reject", "wrong amount"),
    ],
    ids=["gmail", "outlook", "outlook-mobile", "apple-mail", "thunderbird-bottom-post",
         "gmail-html-only", "outlook-html-only"],
)
def test_the_decision_is_read_from_what_the_manager_typed(
    body: str, kind: str, reason: str
) -> None:
    decision = parse_decision(body)
    assert (decision.kind, decision.text) == (kind, reason)


def test_an_edited_letter_between_the_markers_is_taken_whole() -> None:
    body = f"""{EDIT_START}
Dear customer, we will refund the full 20 euros.

And we will bake a new cake for Saturday.
{EDIT_END}

Thanks,
Dana

On Mon, Nov 23, 2026 at 10:00 AM Acme Bakery <support@acme.example> wrote:
> {EDIT_START}
> We will refund the cake.
> {EDIT_END}
"""
    decision = parse_decision(body)
    assert decision.kind == "edit"
    assert decision.text == ("Dear customer, we will refund the full 20 euros.\n\n"
                             "And we will bake a new cake for Saturday.")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "no decision"),
        ("Looks fine to me, go ahead?\n\n> To approve, reply with APPROVE.", "no decision"),
        ("I do not approve", "no decision"),
        ("REJECT\n\nOn Mon, Nov 23 Acme wrote:\n> x", "needs a reason"),
        (f"{EDIT_START}\nNew text", "no closing line"),
        (f"{EDIT_START}\n\n{EDIT_END}", "empty"),
        # The quoted request's own instructions never count (Outlook quotes unprefixed).
        (OUTLOOK_DESKTOP.replace("REJECT the refund must be 20 euros, not 15", ""),
         "no decision"),
    ],
)
def test_anything_else_is_no_decision_and_says_why(body: str, why: str) -> None:
    with pytest.raises(ApprovalRefused, match=why):
        parse_decision(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("We refund 20 euros and send a new cake on Saturday.\n\n-- \nBob\nAcme Bakery\n",
         "We refund 20 euros and send a new cake on Saturday."),
        ("We refund 20 euros.\n\nThanks,\nBob\n\nOn Mon, Nov 23, 2026 at 10:00 AM Acme Bakery"
         " <support@acme.example> wrote:\n> New complaint K7M-Q3X9\n> The cake was crushed.",
         "We refund 20 euros."),
        ("First paragraph.\n\nSecond paragraph.\n\nSent from my iPhone",
         "First paragraph.\n\nSecond paragraph."),
        ("Wir erstatten den Betrag.\n\nAm 23.11.2026 um 10:00 schrieb Acme Bakery "
         "<support@acme.example>:\n> Neue Beschwerde", "Wir erstatten den Betrag."),
        ("Nous remboursons.\n\nLe lun. 23 nov. 2026 à 10:00, Acme Bakery "
         "<support@acme.example> a écrit :\n> Nouvelle réclamation", "Nous remboursons."),
        ("On Monday we will call the customer and refund them.",
         "On Monday we will call the customer and refund them."),
        # Staff of a shop whose letters are in Japanese, Thai, Tagalog or Romanian answer
        # from Gmail and Outlook in that language.
        ("全額返金いたします。\n\n2026年11月23日(月) 10:00 Acme Bakery <support@acme.example>:"
         "\n\n> 新しい苦情を受け付けました。", "全額返金いたします。"),
        ("คืนเงินเต็มจำนวน\n\nเมื่อ จ. 23 พ.ย. 2026 เวลา 10:00 Acme Bakery "
         "<support@acme.example> เขียนว่า:\n> มีเรื่องร้องเรียนใหม่", "คืนเงินเต็มจำนวน"),
        ("Ibabalik namin ang bayad.\n\nNoong Lun, Nob 23, 2026 nang 10:00 AM, sumulat si "
         "Acme Bakery <support@acme.example>:\n> Bagong reklamo", "Ibabalik namin ang bayad."),
        ("คืนเงิน\n\nจาก: Acme Bakery <support@acme.example>\nส่ง: 23 พฤศจิกายน 2026 10:00\n"
         "ถึง: team@acme.example\nเรื่อง: เรื่องร้องเรียนใหม่\n\nมีเรื่องร้องเรียนใหม่", "คืนเงิน"),
        ("Returnăm banii.\n\nDe la: Acme Bakery <support@acme.example>\n"
         "Trimis: luni, 23 noiembrie 2026 10:00\nCătre: team@acme.example\n"
         "Subiect: Reclamație nouă\n\nA sosit o reclamație nouă", "Returnăm banii."),
        ("Please write to the courier at <courier@post.example>:\nthey owe us 20 euros.",
         "Please write to the courier at <courier@post.example>:\nthey owe us 20 euros."),
        # Short sign-offs never reach the customer's final letter.
        ("We refund 20 euros.\n\nAna", "We refund 20 euros."),
        ("We refund 20 euros.\nAna\n", "We refund 20 euros."),
        ("We refund 20 euros.\n\nThanks, Ana", "We refund 20 euros."),
        ("We refund 20 euros.\nThanks,\nAna", "We refund 20 euros."),
        ("We refund 20 euros.\nBest regards, Ana Maria Pop", "We refund 20 euros."),
        ("We refund 20 euros.\n-- Ana", "We refund 20 euros."),
        ("We refund 20 euros.\n\n— Ana P.", "We refund 20 euros."),
        ("Wir erstatten den Betrag.\n\nViele Grüße, Jürgen", "Wir erstatten den Betrag."),
        # What only looks short stays: a sentence, a word in capitals, a lone line.
        ("We refund 20 euros.\n\nDone.", "We refund 20 euros.\n\nDone."),
        ("We refund 20 euros.\n\nSee you on Saturday",
         "We refund 20 euros.\n\nSee you on Saturday"),
        ("We refund 20 euros.\n\nOK", "We refund 20 euros.\n\nOK"),
        ("Refunded", "Refunded"),
    ],
)
def test_a_staff_resolution_keeps_only_the_new_text(body: str, expected: str) -> None:
    assert new_text(body) == expected
