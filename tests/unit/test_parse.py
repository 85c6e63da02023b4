"""parse_message: what staff see of a customer's mail, in the customer's script."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.shared_corpus import corpus_file
from triaged.core.parse import message as message_module
from triaged.core.parse.message import parse_message
from triaged.domain.errors import QuarantineError
from triaged.domain.records import Address

DATA = Path(__file__).resolve().parents[1] / "data"


def mail(*headers: str, body: bytes = b"Hello.\r\n", ctype: str = "") -> bytes:
    """A message from `headers` (str lines, ASCII) and raw `body` bytes."""
    lines = list(headers)
    if not any(line.lower().startswith("from:") for line in headers) and "no-from" not in lines:
        lines.insert(0, "From: Jane Doe <jane@example.com>")
    lines = [line for line in lines if line != "no-from"]
    if ctype:
        lines += ["MIME-Version: 1.0", f"Content-Type: {ctype}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def b_word(text: str, label: str, codec: str) -> str:
    return f"=?{label}?B?{base64.b64encode(text.encode(codec)).decode()}?="


# ---------------------------------------------------------------- charsets of the body


@pytest.mark.parametrize(
    ("label", "codec", "text"),
    [
        ("EUC-KR", "cp949", "똠방각하님, 배송이 늦었습니다."),
        ("ks_c_5601-1987", "cp949", "똠방각하님, 배송이 늦었습니다."),
        ("windows-874", "cp874", "สวัสดีครับ สินค้าเสียหาย"),
        ("x-windows-874", "cp874", "สวัสดีครับ"),
        ("TIS-620", "cp874", "สวัสดีครับ"),
        ("ISO-8859-2", "iso8859_2", "Bună ziua, comanda nu a sosit în ţară, şi nimic."),
        ("ISO-8859-16", "iso8859_16", "Bună ziua, comanda nu a sosit în țară, și nimic."),
        ("gb2312", "gb18030", "我的订单还没有到"),
        ("x-sjis", "cp932", "注文が届きません①"),
        ("unicode-1-1-utf-7", "utf-7", "Grüße"),
        ("x-mac-cyrillic", "mac_cyrillic", "Здравствуйте"),
        ("iso-8859-1", "cp1252", "Price 10 € – too “expensive”"),
    ],
)
def test_body_in_declared_charset_reads_as_the_sender_wrote_it(
    label: str, codec: str, text: str
) -> None:
    data = mail(
        "Subject: x",
        "Content-Transfer-Encoding: 8bit",
        ctype=f'text/plain; charset="{label}"',
        body=text.encode(codec),
    )

    parsed = parse_message(data)

    assert parsed.text == text
    assert not [d for d in parsed.defects if "charset" in d or "decode" in d]


def test_romanian_in_latin2_keeps_cedilla_forms_and_latin10_keeps_comma_forms() -> None:
    latin2 = parse_message(
        mail(ctype="text/plain; charset=iso-8859-2", body="şţ".encode("iso8859_2"))
    )
    latin10 = parse_message(
        mail(ctype="text/plain; charset=iso-8859-16", body="șț".encode("iso8859_16"))
    )

    assert latin2.text == "\u015f\u0163"
    assert latin10.text == "\u0219\u021b"


def test_iso_2022_jp_subject_name_and_body_with_windows_circled_digits() -> None:
    data = (DATA / "ja-iso2022jp-subject-and-body-with-nec-circled-digits.eml").read_bytes()

    parsed = parse_message(data)

    assert parsed.subject == "注文した商品が届きません"
    assert parsed.sender == Address("taro@example.jp", "山田太郎")
    assert parsed.text.splitlines() == [
        "お世話になっております。",
        "①注文番号は１２３４です。",
        "②まだ届いていません。",
    ]


def test_windows_874_thai_subject_name_and_body() -> None:
    parsed = parse_message((DATA / "th-windows-874-subject-and-body.eml").read_bytes())

    assert parsed.subject == "สินค้าเสียหาย"
    assert parsed.sender.name == "สมชาย ใจดี"
    assert parsed.text == "สวัสดีครับ สินค้าที่ได้รับเสียหาย"


def test_outlook_korean_uses_cp949_for_a_syllable_euc_kr_lacks() -> None:
    parsed = parse_message((DATA / "ko-ks_c_5601-1987-cp949-only-syllable.eml").read_bytes())

    assert parsed.sender.name == "김똠"
    assert parsed.subject == "주문 문의"
    assert parsed.text == "똠방각하님, 배송이 늦습니다."
    assert parsed.content_language == "ko-KR"


def test_unknown_charset_is_read_as_utf8_and_recorded() -> None:
    data = mail(ctype="text/plain; charset=x-no-such-charset", body="Grüße".encode())

    parsed = parse_message(data)

    assert parsed.text == "Grüße"
    assert any("x-no-such-charset" in defect for defect in parsed.defects)


def test_latin1_labelled_utf8_and_utf8_labelled_latin1_both_read_right() -> None:
    utf8_as_latin = parse_message(mail(ctype="text/plain; charset=utf-8", body=b"caf\xe9"))
    no_charset = parse_message(mail(body="café".encode()))

    assert utf8_as_latin.text == "café"
    assert no_charset.text == "café"


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        (
            "=?UTF-8?B?" + base64.b64encode("Réclamation: colis abîmé".encode()).decode() + "?=",
            "Réclamation: colis abîmé",
        ),
        ("Re: =?utf-8?Q?caf=C3?= =?utf-8?Q?=A9_cr=C3=A8me?= ok", "Re: café crème ok"),
        (b_word("배송 지연 문의", "EUC-KR", "cp949"), "배송 지연 문의"),
        (b_word("똠", "ks_c_5601-1987", "cp949"), "똠"),
        ("=?iso-8859-8-i?B?+eHl7A==?=", "שבול"),
        ("=?bogus?Q?x?= plain", "x plain"),
        ("=?utf-8?B?not base64!!!?= after", "=?utf-8?B?not base64!!!?= after"),
        ("Folded\r\n subject\r\n\tline", "Folded subject line"),
    ],
)
def test_subject_encoded_words_are_decoded(subject: str, expected: str) -> None:
    parsed = parse_message(mail(f"Subject: {subject}"))

    assert parsed.subject == expected
    assert parsed.header("Subject") is not None


def test_raw_utf8_in_headers_is_read_as_utf8() -> None:
    data = "From: Jörg Müller <jorg@example.de>\r\nSubject: Größe falsch\r\n\r\nx".encode()

    parsed = parse_message(data)

    assert parsed.sender == Address("jorg@example.de", "Jörg Müller")
    assert parsed.subject == "Größe falsch"


def test_non_ascii_local_part_is_kept_as_text() -> None:
    data = "From: Glück <herzlicheglückwünsche@local>\r\n\r\nhi".encode()

    parsed = parse_message(data)

    assert parsed.sender.email == "herzlicheglückwünsche@local"


def test_encoded_display_name_with_comma_stays_one_address() -> None:
    name = "=?utf-8?Q?M=C3=BCller=2C_Hans?="
    to = "To: a@x.example, B <b@x.example>"
    parsed = parse_message(mail(f"From: {name} <hans@example.de>", to))

    assert parsed.sender == Address("hans@example.de", "Müller, Hans")
    assert parsed.to == (Address("a@x.example"), Address("b@x.example", "B"))


def test_missing_from_falls_back_to_reply_to_and_says_so() -> None:
    parsed = parse_message((DATA / "no-from-sender-in-reply-to.eml").read_bytes())

    assert parsed.sender == Address("anna@example.org", "Customer, Anna")
    assert "no usable From address; sender taken from Reply-To" in parsed.defects


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (("From: undisclosed", "Sender: Desk <desk@example.org>"), "desk@example.org"),
        (("no-from", "Return-Path: <bounce@example.net>"), "bounce@example.net"),
        (("From: nobody <>", "Reply-To: real@example.org"), "real@example.org"),
    ],
)
def test_sender_fallback_order(headers: tuple[str, ...], expected: str) -> None:
    assert parse_message(mail(*headers)).sender.email == expected


@pytest.mark.parametrize(
    ("data", "reason_part"),
    [
        (b"", "empty message"),
        (b"  \r\n\r\n ", "empty message"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not an email"),
        (mail("no-from", "Subject: who am I"), "no sender address"),
        (mail("no-from", "Return-Path: <>", "From: MAILER-DAEMON"), "no usable sender"),
    ],
)
def test_unusable_input_is_quarantined_with_a_reason(data: bytes, reason_part: str) -> None:
    with pytest.raises(QuarantineError) as raised:
        parse_message(data)

    assert reason_part in raised.value.reason


def test_library_failures_become_quarantine_not_crashes(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(data: bytes) -> None:
        raise LookupError("codec went away")

    monkeypatch.setattr(message_module, "_parse_structure", explode)

    with pytest.raises(QuarantineError, match="parser failure: LookupError: codec went away"):
        parse_message(mail("Subject: x"))


def test_missing_message_id_is_synthesised_stable_per_content() -> None:
    first = parse_message(mail("Subject: one"))
    again = parse_message(mail("Subject: one"))
    other = parse_message(mail("Subject: two"))

    assert first.message_id == again.message_id
    assert first.message_id != other.message_id
    assert first.message_id.startswith("<")
    assert first.message_id.endswith("@triaged.invalid>")
    assert "no Message-ID" in first.defects


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Message-ID: <abc@example.com>", "<abc@example.com>"),
        ("Message-ID: abc@example.com", "<abc@example.com>"),
        ("Message-Id:\r\n  <abc@example.com> (comment)", "<abc@example.com>"),
    ],
)
def test_message_id_is_normalised_to_angle_form(header: str, expected: str) -> None:
    assert parse_message(mail(header)).message_id == expected


def test_threading_ids_tolerate_garbage_between_them() -> None:
    parsed = parse_message(
        mail(
            "In-Reply-To: <a@x.example> (Jane's message of Monday)",
            "References: junk <r1@x.example>\r\n\t<r2@x.example>,<a@x.example> more junk",
        )
    )

    assert parsed.in_reply_to == ("<a@x.example>",)
    assert parsed.references == ("<r1@x.example>", "<r2@x.example>", "<a@x.example>")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Date: Tue, 4 Jun 2024 09:15:00 +0900", datetime(2024, 6, 4, 0, 15, tzinfo=UTC)),
        ("Date: Tue, 4 Jun 2024 09:15:00 -0000", datetime(2024, 6, 4, 9, 15, tzinfo=UTC)),
        ("Date: yesterday-ish", None),
        ("Date: Tue, 4 Jun 99999 09:15:00 +0000", None),
    ],
)
def test_date_is_aware_utc_or_none(header: str, expected: datetime | None) -> None:
    parsed = parse_message(mail(header))

    assert parsed.date == expected
    if expected is None:
        assert any("Date" in defect for defect in parsed.defects)


def test_headers_list_keeps_every_header_decoded_in_order() -> None:
    parsed = parse_message(
        mail("Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=", "X-Custom: one", "X-Custom: two")
    )

    names = [name for name, _ in parsed.headers]
    assert names == ["From", "Subject", "X-Custom", "X-Custom"]
    assert parsed.header("subject") == "Grüße"
    assert [v for n, v in parsed.headers if n == "X-Custom"] == ["one", "two"]


def test_byte_order_mark_and_unindented_folds_do_not_lose_headers() -> None:
    data = (
        b"\xef\xbb\xbfReceived: from a\r\nby b with SMTP; Mon, 3 Jun 2024\r\n"
        b"From: Anna <anna@example.org>\r\nSubject: still here\r\n\r\nbody"
    )

    parsed = parse_message(data)

    assert parsed.sender.email == "anna@example.org"
    assert parsed.subject == "still here"
    assert parsed.text == "body"


# ---------------------------------------------------------------- body structure


def test_html_only_mail_becomes_readable_text_with_link_text() -> None:
    parsed = parse_message((DATA / "html-only-with-link-and-entities.eml").read_bytes())

    assert "number 1234" in parsed.text
    assert "late & the box was crushed." in parsed.text
    assert "Café owner" in parsed.text
    assert "<" not in parsed.text
    assert "color" not in parsed.text
    assert "var x" not in parsed.text


def test_alternative_prefers_plain_text_over_html() -> None:
    body = (
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain words\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Html words</p>\r\n--b--\r\n"
    )

    parsed = parse_message(mail(ctype='multipart/alternative; boundary="b"', body=body))

    assert parsed.text == "Plain words"


def test_attachments_keep_metadata_with_rfc2231_and_encoded_names() -> None:
    photo = base64.b64encode(b"\xff\xd8" + b"x" * 98).decode()
    body = (
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee photos.\r\n"
        "--b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename*=utf-8''Colis%20ab%C3%AEm%C3%A9.jpg\r\n"
        f"\r\n{photo}\r\n"
        '--b\r\nContent-Type: application/pdf; name="=?ks_c_5601-1987?B?u+fB+C5wZGY=?="\r\n'
        "Content-Disposition: attachment\r\n\r\n%PDF\r\n"
        '--b\r\nContent-Type: text/plain; name="notes.txt"\r\n'
        'Content-Disposition: attachment; filename="notes.txt"\r\n\r\nnot body\r\n--b--\r\n'
    ).encode()

    parsed = parse_message(mail(ctype='multipart/mixed; boundary="b"', body=body))

    assert parsed.text == "See photos."
    assert [(a.filename, a.content_type, a.size) for a in parsed.attachments] == [
        ("Colis abîmé.jpg", "image/jpeg", 100),
        ("사진.pdf", "application/pdf", 4),
        ("notes.txt", "text/plain", 8),
    ]


def test_raw_utf8_attachment_name_is_read_as_utf8() -> None:
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; "
        b'filename="R\xc3\xa9clamation.pdf"\r\n\r\n%PDF\r\n--b--\r\n'
    )

    parsed = parse_message(mail(ctype='multipart/mixed; boundary="b"', body=body))

    assert [a.filename for a in parsed.attachments] == ["Réclamation.pdf"]


def test_forwarded_message_text_is_part_of_the_body() -> None:
    inner = b"From: Original <orig@example.com>\r\nSubject: inner\r\n\r\nInner complaint text\r\n"
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nFYI\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"--b--\r\n"
    )

    parsed = parse_message(mail(ctype='multipart/mixed; boundary="b"', body=body))

    assert parsed.text == "FYI\n\nInner complaint text"


def test_text_is_capped_and_the_cap_recorded() -> None:
    parsed = parse_message(mail(body=b"a" * 5000), max_text_chars=1000)

    assert len(parsed.text) == 1000
    assert "text cut at 1000 characters" in parsed.defects


def test_nul_bytes_never_reach_the_text() -> None:
    parsed = parse_message(mail("Subject: a\x00b", body=b"x\x00y"))

    assert parsed.text == "xy"
    assert parsed.subject == "ab"


def test_mail_parser_reads_the_body_when_the_stdlib_walk_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_walk(*args: object, **kwargs: object) -> None:
        raise ValueError("walk broke")

    monkeypatch.setattr(message_module, "_visit", broken_walk)

    parsed = parse_message(mail("Subject: x", body=b"Body via mail-parser\r\n"))

    assert parsed.text == "Body via mail-parser"
    assert any("mail-parser used" in defect for defect in parsed.defects)


# ---------------------------------------------------------------- Outlook's winmail.dat

def test_a_body_only_inside_winmail_dat_is_read_from_it() -> None:
    # MimeKit's TNEF sample (MIT) with its plain-text part removed: Outlook in
    # Rich Text mode sends exactly this, a multipart/mixed of one winmail.dat.
    parsed = parse_message((DATA / "tnef-winmail-dat-only-body-cp1251-uk.eml").read_bytes())

    assert parsed.text.startswith("шостий")
    assert "RR Test 1" in parsed.text
    assert "body read from winmail.dat (TNEF)" in parsed.defects
    assert [a.filename for a in parsed.attachments] == ["winmail.dat"]


def test_compressed_rtf_inside_winmail_dat_becomes_text_and_its_files_are_listed() -> None:
    raw = corpus_file("mimekit__tnef__rich-text.eml").read_bytes()
    whole = parse_message(raw)
    # Keep only the winmail.dat part: its body is compressed RTF, nothing else.
    _head, _sep, rest = raw.partition(b"\n--")
    marker = b"--" + rest.split(b"\n", 1)[0].strip()
    parts = raw.split(marker)
    tnef_only = marker.join([parts[0], *[p for p in parts[1:] if b"ms-tnef" in p], parts[-1]])

    parsed = parse_message(tnef_only)

    assert "You've made this a Christmas to remember" in parsed.text
    assert "\\rtf" not in parsed.text
    assert "\\par" not in parsed.text
    assert "kitten-playing-with-a-christmas-tree.jpg" in [a.filename for a in parsed.attachments]
    # With its plain-text part, the mail is read from that part as before.
    assert "body read from winmail.dat (TNEF)" not in whole.defects
    assert whole.text.startswith("You've made this a Christmas to remember")


def test_a_broken_winmail_dat_is_a_defect_not_a_failure() -> None:
    body = (
        b"--b\r\nContent-Type: text/plain\r\n\r\nMy order is late.\r\n"
        b"--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(b"an attachment named winmail.dat, but not TNEF") + b"\r\n--b--\r\n"
    )

    parsed = parse_message(mail("Subject: late", body=body, ctype='multipart/mixed; boundary="b"'))

    assert parsed.text == "My order is late."
    assert any(d.startswith("winmail.dat unreadable") for d in parsed.defects)
