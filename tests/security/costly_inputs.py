"""Mail built to be costly to read: the inputs `test_costly_mail` and `bench.costly_mail` share.

Each `Costly` case makes one complete message (headers and body) from a
sender and a recipient. Sizes stay under intake's 200 000-character text cap
where the cost is in the text, and under the raw header cap where it is in a
header, so that what is measured is the reading, not the cutting.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from pathlib import Path

from tests.mailstack import MailStack
from tests.support.mail import smtp_send

ORDINARY_BODY = (
    "Hello,\n\nI ordered a birthday cake (order 4411) for Saturday and it arrived crushed on\n"
    "one side. The box was dented too. I would like a replacement or my money back.\n\n"
    "Kind regards,\nJane\n"
)


@dataclass(frozen=True)
class Costly:
    """One hostile message: `build(sender, to)` returns its bytes."""

    name: str
    build: Callable[[str, str], bytes]


def message(
    sender: str,
    to: str,
    *,
    subject: str = "Cake arrived crushed",
    body: str = ORDINARY_BODY,
    html: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A complete message; `body` travels as base64 so that no line length limit applies."""
    headers = [
        ("From", f"Jane Customer <{sender}>"),
        ("To", to),
        ("Subject", subject),
        ("Date", format_datetime(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))),
        ("Message-ID", make_msgid(domain="costly.example")),
        ("MIME-Version", "1.0"),
        ("Content-Type", f"text/{'html' if html else 'plain'}; charset=utf-8"),
        ("Content-Transfer-Encoding", "base64"),
        *extra,
    ]
    head = "".join(f"{name}: {_fold(value)}\r\n" for name, value in headers)
    encoded = base64.encodebytes(body.encode("utf-8")).replace(b"\n", b"\r\n")
    return head.encode("utf-8") + b"\r\n" + encoded


def _fold(value: str, width: int = 900) -> str:
    """Fold at spaces as a mailer would, so that SMTP accepts the header where it can."""
    if "\r\n" in value or len(value) <= width:
        return value
    lines, line = [], ""
    for word in value.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\r\n ".join(lines)


def fits_smtp(data: bytes) -> bool:
    """Whether every line is within SMTP's 998 characters; a relay refuses longer ones."""
    return all(len(line) <= 998 for line in data.split(b"\r\n"))


def _html(markup: str) -> Callable[[str, str], bytes]:
    def build(sender: str, to: str) -> bytes:
        return message(sender, to, body=f"<p>My cake arrived crushed.</p>{markup}", html=True)
    return build


def _text(body: str) -> Callable[[str, str], bytes]:
    def build(sender: str, to: str) -> bytes:
        return message(sender, to, body=f"My cake arrived crushed.\n{body}")
    return build


def _subject(subject: str) -> Callable[[str, str], bytes]:
    def build(sender: str, to: str) -> bytes:
        return message(sender, to, subject=subject)
    return build


def _header(name: str, value: str) -> Callable[[str, str], bytes]:
    def build(sender: str, to: str) -> bytes:
        return message(sender, to, extra=((name, value),))
    return build


def _huge_to(sender: str, to: str) -> bytes:
    others = ", ".join(f"<person{n}@example.org>" for n in range(4000))
    return message(sender, f"{to}, {others}")


def encoded_words(count: int) -> str:
    """`count` adjacent RFC 2047 words, folded as a mailer folds them."""
    return "\r\n ".join("=?utf-8?q?Kuchen_kaputt_?=" for _ in range(count))


# The cases reported by the attack that found them come first.
CASES: tuple[Costly, ...] = (
    Costly("html nested <ol><li> x4000", _html("<ol><li>" * 4000)),
    Costly("html nested <ul><li> x8000", _html("<ul><li>" * 8000)),
    Costly("html nested <ul><li> x90000", _html("<ul><li>" * 90_000)),
    Costly("subject of adjacent encoded words (400 000 chars)", _subject(encoded_words(15_000))),
    Costly("body line <a@a@...:", _text("<" + "a@" * 99_990 + ":")),
    Costly("body 'schrieb' x28500", _text("schrieb" * 28_500)),
    Costly("html nested <blockquote> x60000", _html("<blockquote>x" * 60_000)),
    Costly("html nested <div> x100000", _html("<div>" * 100_000)),
    Costly("html unclosed comments", _html("<!--" * 100_000)),
    Costly("html unclosed quoted attributes", _html("<a x='" * 60_000)),
    Costly("html unfinished tags", _html("<a" * 200_000)),
    Costly("html many links", _html('<a href="https://x.example/">y</a>' * 20_000)),
    Costly("html <br> x100000", _html("<br>" * 100_000)),
    Costly("html table cells x100000", _html("<table><tr>" + "<td>x" * 100_000)),
    Costly("long line without spaces", _text("x" * 190_000)),
    Costly("long run of spaces", _text(" " * 190_000 + "x")),
    Costly("run of @", _text("@" * 190_000)),
    Costly("run of <", _text("<" * 190_000)),
    Costly("run of quotes", _text('"' * 190_000)),
    Costly("run of >", _text(">" * 190_000)),
    Costly("many > quote lines", _text("> x\n" * 45_000)),
    Costly("many 'wrote:' lines", _text("On Mon, 23 Nov 2026 Anna <a@b.example> wrote:\n" * 4_000)),
    Costly("blank lines below a quote", _text("> old\n" + "\n" * 190_000 + "x")),
    Costly("many short lines", _text("a\n" * 95_000)),
    Costly("many 'From:' lines", _text("From: x\n" * 20_000)),
    Costly("long 'On ... wrote' line", _text("On " + "x " * 95_000 + "wrote:")),
    Costly("forward rule then header lines",
           _text("---------- Forwarded message ---------\n" + "Von: x\n" * 20_000)),
    Costly("many addresses", _text("a@b.example " * 15_000)),
    Costly("many links", _text("https://x.example/a " * 9_000)),
    Costly("markdown link brackets", _text("[" * 60_000 + "](" * 60_000)),
    Costly("many bracketed references", _text("[K7M-Q3X9] " * 15_000)),
    Costly("subject run of @", _subject("@" * 900)),
    Costly("huge To header", _huge_to),
    Costly("huge References header",
           _header("References", " ".join(f"<{n}.x@example.org>" for n in range(12_000)))),
    Costly("huge In-Reply-To of <", _header("In-Reply-To", "<" * 150_000)),
    Costly("huge Subject of encoded words (1 MB)", _subject(encoded_words(40_000))),
    Costly("'wrote' then a long run of spaces", _text("On 1 Jan wrote" + " " * 190_000 + "x")),
    Costly("forward rule then a long run of spaces",
           _text("Forwarded message" + " " * 190_000 + "x")),
    Costly("'* * *' then a long run of spaces", _text("***" + " " * 190_000 + "x")),
    Costly("'From' then a long run of spaces", _text("From" + " " * 190_000 + "x\nSent: x")),
    Costly("forward header line with a long address-like word",
           _text("---------- Forwarded message ---------\nFrom: " + "a" * 190_000
                 + "\nDate: 1 Jan 2026\n")),
    Costly("Content-Type parameter of many ';' in quotes",
           lambda s, t: message(s, t).replace(
               b"charset=utf-8", b'charset=utf-8; name="' + b";" * 15_000 + b'"', 1)),
    Costly("nested comments in Authentication-Results",
           _header("Authentication-Results", "mx.acme.example; " + "(" * 7000 + ")" * 7000)),
    Costly("long word in Authentication-Results",
           _header("Authentication-Results", "mx.acme.example; dkim=pass " + "a" * 16_000)),
    Costly("long word in Delivered-To", _header("Delivered-To", "a" * 16_000)),
    Costly("Received header x2000",
           lambda s, t: message(s, t, extra=tuple(("Received", f"from h{n} by mx; "
                                                    "Mon, 23 Nov 2026 10:00:00 +0000")
                                                   for n in range(2000)))),
)


# ------------------------------------------------------------ running triaged

TRIAGED = [sys.executable, "-m", "triaged"]
# Only a guard against a hang: reading every case takes seconds once reading is
# linear, and more than an hour when it is not.
RUN_GUARD_SECONDS = 900


def run_once(config: Path) -> subprocess.CompletedProcess[str]:
    """`triaged run --once` in a child process, as an operator (or its timer) starts it."""
    environment = {k: v for k, v in os.environ.items() if k != "TRIAGED_CONFIG"}
    return subprocess.run([*TRIAGED, "--config", str(config), "run", "--once"],
                          capture_output=True, text=True, env=environment,
                          timeout=RUN_GUARD_SECONDS, check=False)


def deliver(stack: MailStack, sender: str, to: str, data: bytes) -> None:
    """Send `data` by SMTP; a message with lines SMTP refuses is put in the mailbox by IMAP,
    as a relay that does not check line lengths would deliver it."""
    if not fits_smtp(data):
        stack.append(to, "INBOX", data)
        return
    smtp_send(stack, sender, to, data)
