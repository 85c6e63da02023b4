"""How much of a sender's words a letter carries."""

from __future__ import annotations

from triaged.core.letters.excerpt import (
    FIELD_CHARS,
    SUBJECT_CHARS,
    bounded_context,
    subject_excerpt,
    text_excerpt,
)


def test_a_long_subject_is_cut_with_an_ellipsis_and_a_short_one_is_kept() -> None:
    assert subject_excerpt("Cake") == "Cake"
    cut = subject_excerpt("refund " * 100_000)
    assert len(cut) == SUBJECT_CHARS
    assert cut.endswith("…")


def test_a_long_text_says_how_much_was_left_out_and_where_it_is() -> None:
    text = "word " * 10_000
    cut = text_excerpt(text, "K7M-Q3XY", 600)
    first, note = cut.rsplit("\n", 1)
    assert len(first) <= 602
    assert note == (f"[{len(text.strip()) - len(first[:-2]):,} more characters not shown; "
                    "`triaged show K7M-Q3XY` has the whole message]")
    assert text_excerpt("short", "K7M-Q3XY") == "short"


def test_every_text_in_a_letter_context_is_bounded_but_the_draft_is_whole() -> None:
    huge = "x " * FIELD_CHARS
    context = {"subject": huge, "detail": huge, "resolution": huge,
               "history": [{"text": huge}], "count": 3}
    bounded = bounded_context(context, "K7M-Q3XY")
    assert len(bounded["subject"]) == SUBJECT_CHARS
    assert len(bounded["detail"]) < FIELD_CHARS + 200
    assert len(bounded["history"][0]["text"]) < FIELD_CHARS + 200
    assert bounded["resolution"] == huge, "what a manager approves is shown whole"
    assert bounded["count"] == 3
