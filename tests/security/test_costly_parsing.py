"""Each reader of outside text, fed the input that once made it quadratic or worse.

The inputs are sized so that the old readers took minutes to hours on them
(html2text on nested lists, `html.parser` on unfinished tags, `\\S+@\\S+` on a
long word, `\\s*:?\\s*$` on a long run of spaces, `.*:` after every "schrieb"),
while a linear reader takes milliseconds. The assertions are about what a
reader of the result sees; none measures time.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from triaged.core.language import own_text
from triaged.core.parse import forwarded
from triaged.core.parse.bounces import read_bounce
from triaged.core.parse.html import html_to_text
from triaged.core.parse.message import MAX_HEADER_CHARS, MAX_SUBJECT_CHARS, parse_message
from triaged.core.reply_text import new_text
from triaged.domain.records import Address, ParsedMail
from triaged.replies import authresults
from triaged.replies.carriers import find_tokens

SPACES = " " * 190_000


def mail_with(*, text: str = "", headers: tuple[tuple[str, str], ...] = ()) -> ParsedMail:
    return ParsedMail(message_id="<m@example.org>", sender=Address("jane@example.org"),
                      to=(Address("support@acme.example"),), subject="Cake",
                      date=datetime(2026, 11, 23, tzinfo=UTC), text=text, headers=headers)


def raw(headers: str, body: str, ctype: str = "text/plain; charset=utf-8") -> bytes:
    encoded = base64.encodebytes(body.encode()).decode().replace("\n", "\r\n")
    return (f"From: Jane <jane@example.org>\r\nTo: support@acme.example\r\n{headers}"
            f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{encoded}").encode()


# ------------------------------------------------------------------- HTML


def test_deeply_nested_lists_read_as_a_list_and_keep_the_words_after_them() -> None:
    text = html_to_text("<ol><li>first" + "<ol><li>" * 8000 + "crushed cake")

    assert text.startswith("1. first")
    assert text.endswith("crushed cake")
    # Indentation stops growing: the text is a few times the markup, not its square.
    assert len(text) < 10 * 8000 * len("<ol><li>")


def test_unfinished_tags_comments_and_quoted_attributes_drop_only_themselves() -> None:
    for junk in ("<a x='" * 60_000, '<a x="' * 60_000, "<!--" * 100_000, "<a" * 200_000,
                 "<?" * 200_000, "</" * 200_000):
        assert html_to_text(f"<p>My cake arrived crushed.</p>{junk}") == (
            "My cake arrived crushed."), junk[:8]


def test_nested_blockquotes_are_quoted_lines_with_a_bounded_prefix() -> None:
    text = html_to_text("<p>APPROVE</p>" + "<blockquote>old" * 50_000)

    lines = text.splitlines()
    assert lines[0] == "APPROVE"
    assert all(line.startswith(">") for line in lines[2:])
    assert max(len(line) for line in lines) < 40


def test_output_stops_at_the_limit() -> None:
    text = html_to_text("<p>word</p>" * 100_000, limit=1_000)

    assert 900 < len(text) < 1_200


def test_ordinary_html_mail_reads_as_a_person_reads_it() -> None:
    markup = (
        "<html><head><title>x</title><style>p {color: red}</style></head><body>"
        "<p>My order <a href=\"https://shop.example/o/1\">number 1</a> is late &amp; "
        "<b>crushed</b>.</p><ul><li>cake<li>box</ul><ol><li>first<li>second</ol>"
        "<blockquote>you wrote<blockquote>earlier</blockquote></blockquote><hr>"
        "<table><tr><td>a<td>b</tr></table><pre>  kept   spaces</pre>"
        "<p>Mail <a href=\"mailto:jane@example.org\">jane@example.org</a>"
        "<script>var x = 1;</script> &#99999999999; &#x41;</p></body></html>"
    )

    assert html_to_text(markup) == (
        "My order [number 1](https://shop.example/o/1) is late & crushed.\n\n"
        "* cake\n* box\n\n1. first\n2. second\n\n"
        "> you wrote\n>\n> > earlier\n\n* * *\n\n"
        "a | b\n\n  kept   spaces\n\n"
        "Mail jane@example.org \ufffd A"
    )


# ---------------------------------------------------------------- headers


def test_a_subject_of_thousands_of_encoded_words_is_cut_and_read() -> None:
    words = "\r\n ".join("=?utf-8?q?Kuchen_kaputt_?=" for _ in range(40_000))

    mail = parse_message(raw(f"Subject: {words}\r\n", "Hallo"))

    assert mail.subject.startswith("Kuchen kaputt Kuchen kaputt")
    assert len(mail.subject) == MAX_SUBJECT_CHARS
    assert f"Subject header cut at {MAX_HEADER_CHARS} characters" in mail.defects
    assert mail.text == "Hallo"


def test_a_huge_references_header_keeps_the_ids_before_the_cut() -> None:
    ids = " ".join(f"<{n}.x@example.org>" for n in range(12_000))

    mail = parse_message(raw(f"References: {ids}\r\n", "Hallo"))

    assert mail.references[:2] == ("<0.x@example.org>", "<1.x@example.org>")
    assert 500 < len(mail.references) < 1_000


def test_a_content_type_of_many_quoted_semicolons_is_cut_before_it_is_read() -> None:
    ctype = 'text/plain; charset=utf-8; x="' + ";" * 100_000 + '"'

    mail = parse_message(raw("Subject: Cake\r\n", "Hallo", ctype=ctype))

    assert mail.text == "Hallo"
    assert "Content-Type header cut at 4096 characters" in mail.defects


# ------------------------------------------------------------ plain text


def test_language_noise_filter_reads_long_words_once() -> None:
    for word in ("x" * 190_000, "<" * 190_000, '"' * 190_000, "schrieb" * 28_500,
                 "[" * 60_000 + "](" * 60_000):
        assert own_text(f"Kuchen kaputt\n{word}") == f"Kuchen kaputt\n{word}", word[:8]
    assert own_text("Kuchen kaputt a@b.example https://x.example/a") == "Kuchen kaputt"


def test_forward_rule_and_header_patterns_read_long_runs_of_spaces_once() -> None:
    assert own_text(f"Forwarded message{SPACES}x") == f"Forwarded message{SPACES}x"
    assert own_text(f"Kuchen\nFrom{SPACES}x\nSent: x") == f"Kuchen\nFrom{SPACES}x\nSent: x"
    assert own_text(f"Kuchen\n---------- Forwarded message ---------\nVon{SPACES}x") == (
        f"Kuchen\nVon{SPACES}x")


def test_reply_text_reads_costly_lines_as_typed_text() -> None:
    for line in ("schrieb" * 28_500, "<" + "a@" * 99_990 + ":", f"On 1 Jan wrote{SPACES}x",
                 f"***{SPACES}x", f"From{SPACES}x"):
        assert new_text(f"APPROVE\n\n{line}\n") == f"APPROVE\n\n{line.rstrip()}", line[:8]
    # Blank lines below a quote are read once each, not once per line above them.
    assert new_text("> old\n" + "\n" * 190_000 + "APPROVE") == "APPROVE"
    # The shapes they imitate are still cut.
    assert new_text("APPROVE\n\nAm 1. Jan schrieb Dana:\n> old") == "APPROVE"
    assert new_text("APPROVE\n\nOn 1 Jan, Dana <d@x.example> wrote:   \n> old") == "APPROVE"
    assert new_text("APPROVE\n* * *   \nold") == "APPROVE"


def test_a_forward_header_with_a_huge_word_is_no_address() -> None:
    text = ("---------- Forwarded message ---------\nFrom: " + "a" * 190_000
            + "\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nSubject: Cake\n\nIt was crushed.")
    staff = forwarded.ForwardContext(own_addresses=frozenset({"support@acme.example"}),
                                     forwarders=frozenset({"jane@example.org"}))

    assert forwarded.attribute(mail_with(text=text), staff) is not None
    found = forwarded.attribute(
        mail_with(text=text.replace("a" * 190_000, "Ann <ann@example.org>")), staff)
    assert isinstance(found, forwarded.Attribution)
    assert found.customer.email == "ann@example.org"


def test_a_forwarded_subject_line_is_cut_as_a_subject_is() -> None:
    text = ("---------- Forwarded message ---------\nFrom: Ann <ann@example.org>\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\nSubject: " + "Kuchen " * 30_000
            + "\n\nIt was crushed.")
    staff = forwarded.ForwardContext(own_addresses=frozenset({"support@acme.example"}),
                                     forwarders=frozenset({"jane@example.org"}))

    found = forwarded.attribute(mail_with(text=text), staff)

    assert isinstance(found, forwarded.Attribution)
    assert len(found.subject) == MAX_SUBJECT_CHARS
    assert found.text == "It was crushed."


def test_a_text_bounce_with_a_huge_word_still_names_its_recipient() -> None:
    data = (b"From: MAILER-DAEMON@mx.example\r\nTo: support@acme.example\r\n"
            b"Subject: Undelivered Mail\r\n\r\n" + b"a" * 190_000
            + b"\r\nDelivery to gone@example.org failed permanently.\r\n")

    bounce = read_bounce(data, parse_message(data))

    assert bounce is not None
    assert [r.email for r in bounce.recipients] == ["gone@example.org"]


def test_plus_tokens_are_looked_for_once_per_word_of_a_header() -> None:
    mail = mail_with(headers=(("Delivered-To", "a" * 200_000),))

    assert find_tokens(mail, frozenset({"support@acme.example"})) == []


def test_authentication_results_with_deep_comments_and_long_words_are_read_once() -> None:
    nested = "mx.acme.example; dkim=pass (" + "(" * 100_000 + ")" * 100_000 + ") " \
             "header.d=example.org"
    long_word = "mx.acme.example; dkim=pass header.d=example.org " + "a" * 200_000

    assert authresults.check([nested], "mx.acme.example", "jane@example.org").passed
    assert authresults.check([long_word], "mx.acme.example", "jane@example.org").passed
    unclosed = "mx.acme.example; dkim=pass header.d=example.org (never closed"
    assert authresults.check([unclosed], "mx.acme.example", "jane@example.org").passed
