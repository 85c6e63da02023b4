"""Hostile mail for property tests and the long fuzzing run, and the one check both apply.

`examine(data)` hands one message to every reader a stranger's bytes reach: the
parser, forward detection, the classifier, bounce reading, the reply and
decision parsers, the escalation-reply command and Authentication-Results. A
reader may refuse only in its documented way (`QuarantineError` from the parser,
`ApprovalRefused` from the decision parser); anything else propagates and is a
finding. The reading step itself (`core.reading.read`, which the reading worker
runs under the time budget) must always return a Reading, refused or read.

Two sources of input:
- Hypothesis strategies (`messages()`), which build messages from hostile parts:
  nesting, boundaries, charsets, transfer encodings, folded and encoded headers,
  NUL bytes, huge lines;
- `Mutator`, a seeded, dependency-free mutator of the project's own fixtures
  (tests/data), cheap enough for a million inputs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from hypothesis import strategies as st

from triaged.core import references
from triaged.core.classify import ClassifyContext, classify
from triaged.core.decision import looks_like_decision, parse_decision
from triaged.core.parse import forwarded
from triaged.core.parse.bounces import looks_like_bounce, read_bounce
from triaged.core.reading import ReadingRules, read
from triaged.core.reply_text import new_text, says_settled
from triaged.domain.errors import ApprovalRefused
from triaged.replies import authresults, carriers
from triaged.usecases.escalation_replies import find_command

DATA = Path(__file__).resolve().parents[1] / "data"
OWN = "support@acme.example"
FORWARDS = forwarded.ForwardContext(own_addresses=frozenset({OWN}),
                                    forwarders=frozenset({"desk@acme.example"}))
CLASSIFY = ClassifyContext(own_addresses=frozenset({OWN}))
RULES = ReadingRules(forwards=FORWARDS, default_language="en",
                     languages=frozenset({"en", "de", "fr", "ro", "es", "ja"}))


def fixtures() -> list[bytes]:
    """Every .eml the project keeps under tests/data: the seeds of mutation."""
    return [path.read_bytes() for path in sorted(DATA.rglob("*.eml"))]


def examine(data: bytes) -> str:
    """The reading step on `data`, then every other reader on what it read; the outcome
    in one word. Undocumented errors escape."""
    reading = read(data, RULES)
    assert (reading.mail is None) == bool(reading.refused), "refused, or read: never both"
    if reading.mail is None:
        return "quarantined"
    mail = reading.mail
    forwarded.is_forward_subject(mail.subject)
    verdict = classify(reading.view, CLASSIFY)
    if looks_like_bounce(mail):
        read_bounce(data, mail)
    carriers.find_tokens(mail, frozenset({OWN}))
    references.find_in_text(mail.subject)
    references.find_in_text(mail.text)
    new_text(mail.text)
    says_settled(mail.text)
    find_command(mail.text, mail.subject)
    if looks_like_decision(mail.text):
        try:
            parse_decision(mail.text)
        except ApprovalRefused as error:
            refusal = error.reason
            assert refusal, "a refusal says why"
    headers = [v for k, v in mail.headers if k.lower() == "authentication-results"]
    authresults.check(headers, "mx.acme.example", mail.sender.email)
    return verdict.outcome.value


# ---- Hypothesis strategies ---------------------------------------------------------------

CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis",
            "iso-2022-jp", "gb2312", "big5", "utf-16", "utf-7", "x-unknown", "", "utf-8\x00",
            "ks_c_5601-1987", "windows-874", '"utf-8', "=?utf-8?"]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
TYPES = ["text/plain", "text/html", "message/rfc822", "message/delivery-status",
         "application/octet-stream", "application/ms-tnef", "text/rfc822-headers",
         "multipart/mixed", "multipart/alternative", "multipart/report", "text", "/", ""]
HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To",
                "References", "Reply-To", "Sender", "Return-Path", "Auto-Submitted",
                "Precedence", "List-Id", "X-Spam-Flag", "Content-Language",
                "Authentication-Results", "X-Original-From", "Resent-From",
                "Content-Disposition", "Content-Type", "Content-Transfer-Encoding"]

PIECES = ["\x00", "\r", "\n", "\r\n", "=?", "?=", "--", ";", '"', "\\", "<", ">", "@", "\t",
          " ", "=", ":", "\u202e", "\ufeff", "> ", "From: ", "APPROVE", "REJECT",
          "EXTEND 3 days", "ACK", "-----Original Message-----"]
nasty_text = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
    | st.sampled_from(PIECES), max_size=20).map("".join)


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 5))
    text = draw(nasty_text)
    if kind == 0:  # an encoded word, maybe broken
        charset = draw(st.sampled_from(CHARSETS))
        code = draw(st.sampled_from(["B", "Q", "X", "b"]))
        payload = draw(st.binary(max_size=60)).hex() if code == "X" else text
        return f"=?{charset}?{code}?{payload}?=".encode("utf-8", "surrogateescape")
    if kind == 1:  # folded, possibly with nothing after the fold
        parts = draw(st.lists(nasty_text, min_size=1, max_size=6))
        return "\r\n ".join(parts).encode()
    if kind == 2:  # raw bytes of any kind
        return draw(st.binary(max_size=300))
    if kind == 3:  # addresses, good and broken
        names = draw(st.lists(st.sampled_from(
            ["a@b.example", "<x@y>", '"q, r" <q@r.example>', "@", "<>", "a@", "group: ;",
             "é@ü.example", "a@b@c", "((((", "x" * 300 + "@y.example", text]),
            min_size=1, max_size=5))
        return ", ".join(names).encode("utf-8", "surrogateescape")
    if kind == 4:  # a huge line
        return b"x" * draw(st.integers(900, 200_000))
    return text.encode("utf-8", "surrogateescape")


@st.composite
def header_block(draw: st.DrawFn, content_type: bytes | None = None) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from(HEADER_NAMES) | st.text(
            st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
            min_size=1, max_size=20))
        lines.append(name.encode() + b": " + draw(header_value()))
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    return b"\r\n".join(lines)


def _body(draw: st.DrawFn) -> bytes:
    encoding = draw(st.sampled_from(ENCODINGS))
    raw = draw(st.binary(max_size=400) | nasty_text.map(lambda s: s.encode("utf-8")))
    if encoding == "base64" and draw(st.booleans()):
        import base64
        raw = base64.b64encode(raw)
    return b"Content-Transfer-Encoding: " + encoding.encode() + b"\r\n\r\n" + raw


@st.composite
def part(draw: st.DrawFn, depth: int) -> bytes:
    ctype = draw(st.sampled_from(TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    if ctype.startswith("multipart") and depth > 0:
        boundary = draw(st.sampled_from(["b", "", "--", "a b", "x" * 200, "=_\x00", '"']))
        children = draw(st.lists(part(depth - 1), max_size=4))
        closing = draw(st.booleans())
        body = b"".join(b"\r\n--" + boundary.encode() + b"\r\n" + c for c in children)
        if closing:
            body += b"\r\n--" + boundary.encode() + b"--\r\n"
        head = f'{ctype}; boundary="{boundary}"'.encode()
        return b"Content-Type: " + head + b"\r\n\r\n" + draw(st.binary(max_size=40)) + body
    if ctype == "message/rfc822" and depth > 0:
        return b"Content-Type: message/rfc822\r\n\r\n" + draw(message(depth - 1))
    head = f"{ctype}; charset={charset}".encode()
    if draw(st.booleans()):
        head += b'\r\nContent-Disposition: attachment; filename*=' + draw(header_value())
    return b"Content-Type: " + head + b"\r\n" + _body(draw)


@st.composite
def message(draw: st.DrawFn, depth: int = 4) -> bytes:
    """A whole message: hostile headers over a hostile (possibly nested) body."""
    top = draw(header_block())
    if draw(st.booleans()):
        top = b"From: customer@customer.example\r\n" + top
    body = draw(part(depth))
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    return (top + b"\r\n" + body).replace(b"\r\n", eol)


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    """One of the project's fixtures, mutated by the same operators as the long run."""
    seeds = _seeds()
    seed = draw(st.sampled_from(range(len(seeds))))
    return Mutator(random.Random(draw(st.integers(0, 2**32))), seeds).mutate(seeds[seed])


_SEEDS: list[bytes] = []


def _seeds() -> list[bytes]:
    if not _SEEDS:
        _SEEDS.extend(fixtures())
    return _SEEDS


def messages() -> st.SearchStrategy[bytes]:
    return message() | mutated_fixture()


# ---- the long run's mutator ---------------------------------------------------------------

TOKENS = [b"\r\n", b"\n\n", b"\x00", b"--", b"boundary=", b"Content-Type: multipart/mixed; ",
          b"Content-Type: message/rfc822\r\n\r\n", b"Content-Transfer-Encoding: base64\r\n",
          b"=?utf-8?B?", b"=?iso-2022-jp?Q?", b"?=", b"charset=", b"\r\n ", b"\xff\xfe",
          b"From: ", b"<", b">", b"@", b";", b'"', b"=\r\n", b"=XX", b"Content-Type: ",
          b"Reporting-MTA: dns; x\r\nFinal-Recipient: rfc822; ", b"Status: 5.1.1\r\n",
          b"Action: failed\r\n", b"Auto-Submitted: auto-replied\r\n",
          b"Authentication-Results: mx.acme.example; dkim=pass header.d=", b"APPROVE\r\n",
          b"-----Original Message-----\r\n", b"---------- Forwarded message ---------\r\n"]


class Mutator:
    """Seeded mutations of real messages: byte flips, splices, token inserts, header
    duplication, nesting, huge lines, truncation, line-end changes."""

    def __init__(self, rng: random.Random, seeds: Sequence[bytes]) -> None:
        self.rng = rng
        self.seeds = seeds

    def mutate(self, data: bytes) -> bytes:
        for _ in range(self.rng.randint(1, 6)):
            data = self.rng.choice(self._operators)(self, data)
        return data

    def _flip(self, data: bytes) -> bytes:
        if not data:
            return bytes([self.rng.randrange(256)])
        b = bytearray(data)
        for _ in range(self.rng.randint(1, 8)):
            b[self.rng.randrange(len(b))] = self.rng.randrange(256)
        return bytes(b)

    def _insert(self, data: bytes) -> bytes:
        at = self.rng.randint(0, len(data))
        return data[:at] + self.rng.choice(TOKENS) * self.rng.randint(1, 4) + data[at:]

    def _delete(self, data: bytes) -> bytes:
        if not data:
            return data
        at = self.rng.randrange(len(data))
        return data[:at] + data[at + self.rng.randint(1, 200):]

    def _splice(self, data: bytes) -> bytes:
        other = self.rng.choice(self.seeds)
        a, b = self.rng.randint(0, len(data)), self.rng.randint(0, len(other))
        return data[:a] + other[b:]

    def _duplicate_line(self, data: bytes) -> bytes:
        lines = data.split(b"\n")
        i = self.rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * self.rng.randint(1, 50)
        return b"\n".join(lines)

    def _nest(self, data: bytes) -> bytes:
        if self.rng.random() < 0.5:
            return (b"From: c@c.example\r\nContent-Type: message/rfc822\r\n\r\n" + data)
        return (b"From: c@c.example\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
                b"--zz\r\n" + data + b"\r\n--zz--\r\n")

    def _huge_line(self, data: bytes) -> bytes:
        # Mostly a few kilobytes (enough for anything quadratic to show in the slow
        # inputs), now and then a line of hundreds.
        at = self.rng.randint(0, len(data))
        size = self.rng.randint(1000, 300_000 if self.rng.random() < 0.02 else 20_000)
        return data[:at] + self.rng.choice([b"a", b"=", b"<", b" ", b"\x00", b"<a", b"=?"]) \
            * size + data[at:]

    def _truncate(self, data: bytes) -> bytes:
        return data[:self.rng.randint(0, len(data))]

    def _line_ends(self, data: bytes) -> bytes:
        new = self.rng.choice([b"\n", b"\r", b"\r\n", b"\r\r\n", b"\n\r"])
        return data.replace(b"\r\n", b"\n").replace(b"\n", new)

    _operators: ClassVar[list[Callable[[Mutator, bytes], bytes]]] = [
        _flip, _flip, _insert, _insert, _delete, _splice, _duplicate_line, _nest,
        _huge_line, _truncate, _line_ends]
