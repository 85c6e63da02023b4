"""Letters to staff and managers in the business's language, with the commands kept intact.

Every kind of internal letter is rendered in every language we ship, from a
context with the keys the use cases give it (`approval/flow.py`,
`notices.py`, `approval/routing.py`, `outbound/staff_letters.py`): it must
come out in that language, carry the reference, escape customer data in the
HTML part, and keep the words the reply parsers read (APPROVE, REJECT, the
edit marker lines, ACK, EXTEND) exactly as the parsers expect them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from triaged.core.decision import EDIT_END, EDIT_START, parse_decision
from triaged.core.history import history_entries
from triaged.core.letters.render import Renderer, builtin_templates_dir
from triaged.core.letters.staff import DigestFacts, DigestItem, escalation_letter
from triaged.domain.records import Address, LetterKind
from triaged.usecases.escalation_replies import find_command

LANGUAGES = ["de", "en", "es", "fr", "ja", "ko", "ro", "th", "tl"]
INTERNAL = [LetterKind.NEW_COMPLAINT, LetterKind.STAFF_NOTICE, LetterKind.REMINDER,
            LetterKind.ESCALATION, LetterKind.APPROVAL_REQUEST, LetterKind.APPROVED,
            LetterKind.REJECTED, LetterKind.REFUSAL]
REFERENCE = "K7M-Q3X9"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
HOSTILE_NAME = "<b>Eve</b>"
RESOLUTION = "Wir erstatten 45 Euro und backen eine neue Torte."
# Words of the English letters that must not be left in a translation.
ENGLISH = ("Hello", "complaint", "Please", "reply to this email", "customer wrote",
           "Promised", "automatic message", "State:", "approve it", "drafted by")


def _base(language_name: str = "Korean") -> dict[str, Any]:
    return {"business_name": "Acme Bakery", "reference": REFERENCE,
            "customer": "eve@customer.example",
            "customer_label": f"{HOSTILE_NAME} <eve@customer.example>",
            "subject": "Torte zerdrückt", "language_name": language_name, "can_reply": True}


def _history() -> list[dict[str, Any]]:
    events = [
        (NOW - timedelta(days=2), "registered", "system", '{"customer": "eve@customer.example"}'),
        (NOW - timedelta(days=2), "letter_sent", "system", '{"kind": "holding"}'),
        (NOW - timedelta(days=1), "follow_up", "system", "{}"),
        (NOW - timedelta(hours=5), "drafted", "bob@acme.example", '{"version": 1}'),
        (NOW - timedelta(hours=4), "rejected", "dana@acme.example",
         '{"version": 1, "reason": "too little"}'),
        (NOW - timedelta(hours=3), "escalated", "system", '{"level": 1}'),
        (NOW - timedelta(hours=2), "state_changed", "system",
         '{"from": "resolved", "to": "in_progress"}'),
        (NOW - timedelta(hours=1), "drafted", "bob@acme.example", '{"version": 2}'),
    ]
    return history_entries(events, lambda at: at.strftime("%d.%m. %H:%M"))


def contexts() -> dict[LetterKind, list[dict[str, Any]]]:
    """Every variant of every internal letter, as the use cases fill it."""
    base = _base()
    return {
        LetterKind.NEW_COMPLAINT: [
            {**base, "received": "23.11.2026", "due": "30.11.2026",
             "complaint_text": "Die Torte <script> kam zerdrückt an."},
            {**base, "received": "23.11.2026", "due": "30.11.2026", "complaint_text": "x",
             "can_reply": False},
        ],
        LetterKind.STAFF_NOTICE: [
            {**base, "topic": topic, "customer_email": "eve@customer.example",
             "customer_name": HOSTILE_NAME, "forwarder": "owner@acme.example",
             "linked_reference": "ABC-DEFG", "letter_kind": "holding",
             "detail": "550 5.1.1 user unknown", "hard": True}
            for topic in ("follow_up", "forward_unattributed", "bounced", "linked")
        ],
        LetterKind.APPROVAL_REQUEST: [
            {**base, "manager_name": "Dana", "version": 2, "drafted_by": "bob@acme.example",
             "resolution": RESOLUTION, "edit_start": EDIT_START, "edit_end": EDIT_END,
             "final_subject": f"Re: Torte zerdrückt [{REFERENCE}]",
             "final_text": f"Guten Tag,\n\n{RESOLUTION}\n", "history": _history(),
             "complaint_text": "Die Torte kam zerdrückt an.", "expires": "9.12.2026"},
        ],
        LetterKind.APPROVED: [{**base, "version": 2, "edited": edited}
                              for edited in (False, True)],
        LetterKind.REJECTED: [
            {**base, "reopened": False, "decided_by": "dana@acme.example", "version": 2,
             "reason": "the refund must be 20 euros", "old_state": ""},
            {**base, "reopened": True, "decided_by": "", "version": 0,
             "reason": "Nein, die Torte kam nie.", "old_state": "resolved", "can_reply": False},
        ],
        LetterKind.REFUSAL: [
            {"business_name": "Acme Bakery", "reference": REFERENCE,
             "sender": "mallory@evil.example", "subject": "Re: Approval",
             "reason": "the token was not issued to this sender"},
            {"business_name": "Acme Bakery", "reference": "", "sender": "x@y.example",
             "subject": "", "reason": "no token"},
        ],
    }


def digest(language: str, items: int = 1, reply_to: str = "") -> DigestFacts:
    made = tuple(
        DigestItem(reference=f"{REFERENCE[:4]}{n}ABC", customer=Address("e@x.example",
                                                                         HOSTILE_NAME),
                   subject="Torte", received_at=NOW - timedelta(days=3),
                   due_at=NOW - timedelta(hours=3), state=state, category="quality",
                   priority="urgent", level=1, repeat=n == 1, first_text="Die Torte <i>!",
                   follow_ups=2, letters_sent=1, reply_to=reply_to)
        for n, state in zip(range(items), ("in progress", "awaiting approval", "acknowledged"),
                            strict=False))
    return DigestFacts(business_name="Acme Bakery", to=Address("dana@acme.example", "Dana"),
                       timezone="Europe/Bucharest", language=language, now=NOW, items=made)


def test_every_language_has_every_internal_letter() -> None:
    base = builtin_templates_dir()
    for language in LANGUAGES:
        for kind in INTERNAL:
            for part in ("subject", "txt", "html"):
                assert (base / language / f"{kind.value}.{part}.j2").is_file(), \
                    (language, kind, part)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(contexts()))
def test_internal_letters_are_written_in_the_business_language(
    language: str, kind: LetterKind
) -> None:
    renderer = Renderer(default_language=language)
    assert renderer.internal_language(kind) == language
    english = renderer.render("en", kind, contexts()[kind][0])
    for context in contexts()[kind]:
        parts = renderer.render(language, kind, context)
        assert context["reference"] in parts.subject + parts.text or not context["reference"]
        assert HOSTILE_NAME not in parts.html
        assert f'lang="{language}"' in parts.html
        if HOSTILE_NAME in parts.text:
            assert "&lt;b&gt;Eve&lt;/b&gt;" in parts.html
        if language != "en":
            assert parts.subject != english.subject
            left = [w for w in ENGLISH if w.lower() in parts.text.lower()]
            assert not left, left


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_approval_request_keeps_the_words_the_parser_reads(language: str) -> None:
    context = contexts()[LetterKind.APPROVAL_REQUEST][0]
    text = Renderer().render(language, LetterKind.APPROVAL_REQUEST, context).text
    assert "APPROVE" in text
    assert "REJECT" in text
    assert text.count(EDIT_START) == 1
    assert text.count(EDIT_END) == 1
    # A manager who edits the letter copies the marker lines, as the request says.
    start, end = text.index(EDIT_START), text.index(EDIT_END) + len(EDIT_END)
    copied = text[start:end].replace(RESOLUTION, "Wir erstatten 60 Euro.")
    assert parse_decision(f"{copied}\n\nDana").text == "Wir erstatten 60 Euro."
    # Every event of the short history is told, with its facts.
    for fact in ("eve@customer.example", "bob@acme.example", "too little"):
        assert fact in text
    assert f"Re: Torte zerdrückt [{REFERENCE}]" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_escalation_shows_commands_the_reply_parser_understands(language: str) -> None:
    address = "support+tok@acme.example"
    letter = escalation_letter(digest(language, items=3, reply_to=address), Renderer())
    assert letter.language == language
    assert address in letter.text
    lines = [line.strip() for line in letter.text.splitlines()]
    ack = next(line for line in lines if line.startswith("ACK "))
    extend = next(line for line in lines if line.startswith("EXTEND "))
    # The example lines, typed as shown, are commands (the explanation is not).
    assert find_command(ack.split("  ")[0], "") == ("ACK", "")
    assert find_command(extend.split("  ")[0], "") == ("EXTEND", "3 business days")
    assert "&lt;i&gt;" in letter.html


def test_a_business_language_without_internal_letters_gets_english(tmp_path: Path) -> None:
    # A Vietnamese shop that added only its customer letters.
    (tmp_path / "vi").mkdir()
    renderer = Renderer(tmp_path, default_language="vi")
    assert renderer.internal_language(LetterKind.APPROVAL_REQUEST) == "en"
    assert renderer.internal_language(LetterKind.NEW_COMPLAINT) == "en"
    assert Renderer(default_language="ko-KR").internal_language(LetterKind.APPROVED) == "ko"
    assert escalation_letter(digest("vi"), renderer).language == "en"
    assert escalation_letter(digest("ko-KR"), renderer).language == "ko"
