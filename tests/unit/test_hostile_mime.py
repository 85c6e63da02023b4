"""Each hostile or malformed fixture of tests/data/mime is read without a traceback:
a complaint shows the customer's words, a robot's mail is set aside by its rule,
and what cannot be used raises a quarantine with a reason staff can act on."""

from __future__ import annotations

import pytest

from tests.hostile_mime import EXPECTED, fixture_names, read
from triaged.core.classify import ClassifyContext, classify
from triaged.core.parse.forwarded import Attribution, ForwardContext, attribute
from triaged.core.parse.message import parse_message
from triaged.domain.errors import QuarantineError


def test_every_fixture_has_an_expected_outcome() -> None:
    assert fixture_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_becomes_what_is_expected(name: str) -> None:
    expected = EXPECTED[name]
    if expected.outcome == "quarantined":
        with pytest.raises(QuarantineError) as raised:
            parse_message(read(name))
        assert expected.detail in raised.value.reason
        return
    mail = parse_message(read(name))
    verdict = classify(mail, ClassifyContext())

    assert verdict.outcome.value == expected.outcome
    if expected.outcome == "complaint":
        forward = attribute(mail, ForwardContext())
        if isinstance(forward, Attribution):
            mail_of = (forward.customer.email, forward.subject, forward.text)
        else:
            mail_of = (mail.sender.email, mail.subject, mail.text)
        assert mail_of[0] == expected.customer.decode()
        assert expected.detail in f"{mail_of[1]}\n{mail_of[2]}"
    else:
        assert verdict.rule == expected.detail
    assert mail.message_id.startswith("<")
    assert mail.message_id.endswith(">")
    assert "\x00" not in mail.subject + mail.text


def test_a_missing_message_id_or_date_is_repaired_and_noted() -> None:
    no_id = parse_message(read("missing-message-id.eml"))
    no_date = parse_message(read("missing-date.eml"))

    assert "no Message-ID" in no_id.defects
    assert no_id.message_id == parse_message(read("missing-message-id.eml")).message_id
    assert no_date.date is None
    assert "no Date" in no_date.defects


def test_attachment_names_in_rfc2231_and_encoded_words_are_decoded() -> None:
    names = [a.filename for a in parse_message(read("rfc2231-attachment-names.eml")).attachments]

    assert names == ["Photo de la tarte cassée.jpg", "reçu commande.pdf"]


def test_a_winmail_dat_gives_its_text_and_its_files() -> None:
    mail = parse_message(read("tnef-winmail-dat-only.eml"))

    assert mail.text == "My order 1182 arrived broken. The crème brûlée was spilt."
    assert [a.filename for a in mail.attachments] == ["winmail.dat", "receipt.txt"]
    assert "body read from winmail.dat (TNEF)" in mail.defects


def test_a_corrupt_winmail_dat_is_a_noted_defect_not_a_crash() -> None:
    mail = parse_message(read("tnef-corrupt.eml"))

    assert [a.filename for a in mail.attachments] == ["winmail.dat"]
    assert any(d.startswith("winmail.dat unreadable") for d in mail.defects)


def test_html_only_mail_reads_as_text_without_markup_or_script() -> None:
    text = parse_message(read("html-only.eml")).text

    assert "<" not in text
    assert "alert" not in text
    assert "color:red" not in text


def test_a_forward_nested_five_deep_keeps_the_innermost_message() -> None:
    mail = parse_message(read("nested-rfc822-five-deep.eml"))

    assert mail.text.startswith("Wrapper 5.")
    assert any(b"Parcel 1182 was left at the door." in part for part in mail.embedded)


def test_nesting_past_the_depth_limit_is_cut_and_noted() -> None:
    mail = parse_message(read("multipart-nested-200-deep.eml"))

    assert any("nested deeper than" in defect for defect in mail.defects)


def test_lone_carriage_returns_end_lines() -> None:
    text = parse_message(read("mixed-line-endings.eml")).text

    assert text.splitlines() == ["My order 1182", "arrived broken.", "Please refund it.", "Thanks"]


def test_a_charset_that_lies_is_noted() -> None:
    unknown = parse_message(read("charset-unknown.eml")).defects
    lying = parse_message(read("charset-lying-utf8-is-latin1.eml")).defects

    assert any("unknown charset" in defect for defect in unknown)
    assert any("does not decode as utf-8" in defect for defect in lying)
