"""Letter → RFC 5322 bytes: our Message-ID, threading headers, RFC 3834 marks.

The MIME is written by hand: the stdlib generator costs about 0.5 ms a letter
(header objects, and a regular expression compiled per message to check the
multipart boundary), which alone would cap holding replies well below the
600 a second intake aims at. What is written is deliberately plain and checked by
`tests/unit/test_compose.py` against the stdlib parser:

- bodies are UTF-8 in quoted-printable (readable raw, 7-bit safe, lines ≤ 76);
  a letter's files (`Letter.files`) are base64 parts: inline pictures in a
  multipart/related around the HTML, each with the Content-ID its
  `<img src="cid:…">` names, the rest after the body in a multipart/mixed;
- non-ASCII header text is RFC 2047 base64 encoded words of at most 75
  characters, split only between whole characters, folded with CRLF SP;
- the multipart boundary starts with "=_", which quoted-printable output can
  never contain ("=" is always followed by hex digits or a line break), so no
  scan of the bodies is needed;
- every line ends in CRLF, ready for SMTP DATA.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from datetime import datetime
from email.utils import format_datetime, make_msgid
from urllib.parse import quote

from triaged.core.letters.excerpt import subject_excerpt
from triaged.core.mailbox_syntax import is_one_mailbox, why_not_one_mailbox
from triaged.domain.records import Address, Letter, LetterFile

# Long References chains are trimmed to the first and the newest ids, as RFC 5322
# §3.6.4 allows, so that a long conversation never produces a huge header.
MAX_REFERENCES = 20

# Every Message-ID we give a letter contains this (make_msgid's idstring), so an
# incoming id without it cannot be ours and needs no database lookup.
OWN_ID_MARK = ".triaged@"

_CRLF = "\r\n"
_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be at most 78 characters
_WORD = 75  # RFC 2047 §2: an encoded word is at most 75 characters
_WORD_OPEN, _WORD_CLOSE = "=?utf-8?b?", "?="
# A word longer than this cannot be folded as plain text and is encoded instead.
_LONGEST_PLAIN_WORD = 900
# RFC 5322 atext plus the space: a display name of only these is written as atoms;
# other printable ASCII needs a quoted string.
_ATOM_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~ "
)


def one_line(text: str) -> str:
    """Header-safe text: no CR/LF (header injection), no runs of whitespace."""
    return " ".join(text.split())


def new_message_id(sender: Address) -> str:
    domain = sender.email.rpartition("@")[2] or "triaged.invalid"
    return make_msgid(idstring="triaged", domain=domain)


def may_be_ours(message_id: str) -> bool:
    """Whether `message_id` has the shape of one `new_message_id` made (cheap, no I/O)."""
    return OWN_ID_MARK in message_id.lower()


# -- headers -----------------------------------------------------------------


def _encoded_words(text: str, first_room: int) -> list[str]:
    """`text` as base64 encoded words; the first fits in `first_room` characters.

    Words are cut between characters, never inside one character's UTF-8
    bytes, so each word decodes on its own (RFC 2047 §5).
    """
    words: list[str] = []
    room = max(first_room, len(_WORD_OPEN) + len(_WORD_CLOSE) + 8)
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        if chunk and _word_length(len(chunk) + len(data)) > room:
            words.append(_word(chunk))
            chunk, room = b"", _WORD
        chunk += data
    if chunk or not words:
        words.append(_word(chunk))
    return words


def _word_length(octets: int) -> int:
    return len(_WORD_OPEN) + 4 * ((octets + 2) // 3) + len(_WORD_CLOSE)


def _word(chunk: bytes) -> str:
    return _WORD_OPEN + base64.b64encode(chunk).decode("ascii") + _WORD_CLOSE


def _fold(name: str, tokens: list[str]) -> str:
    """`Name: tok tok …` with a CRLF SP before any token that would pass 78 columns."""
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > _LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return _CRLF.join(lines)


def _text_header(name: str, value: str) -> str:
    """An unstructured header (Subject, extras): plain when ASCII, else encoded words."""
    value = one_line(value)
    words = value.split(" ")
    if value.isascii() and all(len(w) <= _LONGEST_PLAIN_WORD for w in words):
        return _fold(name, words if value else [""])
    return _fold(name, _encoded_words(value, _LINE - len(name) - 2))


def _phrase(name: str, room: int) -> list[str]:
    """A display name as header tokens: atoms, a quoted string or encoded words."""
    name = one_line(name)
    if not name:
        return []
    if not name.isascii() or not name.isprintable():
        return _encoded_words(name, room)
    if not _ATOM_CHARS.issuperset(name) or "=?" in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{escaped}"']
    return name.split(" ")


def _address_header(header: str, address: Address) -> str:
    # A display name is the sender's to choose: a megabyte of it is cut like a subject.
    tokens = _phrase(subject_excerpt(address.name), _LINE - len(header) - 2)
    tokens.append(f"<{address.email}>" if tokens else address.email)
    return _fold(header, tokens)


# -- bodies ------------------------------------------------------------------


def _quoted_printable(text: str) -> str:
    """UTF-8 quoted-printable with CRLF line ends and soft breaks at 76 columns."""
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normal.endswith("\n"):
        normal += "\n"
    encoded = binascii.b2a_qp(normal.encode("utf-8"), quotetabs=False, istext=True)
    # b2a_qp ends lines as its input did ("\n"), soft breaks included.
    return encoded.decode("ascii").replace("\n", _CRLF)


def _text_part(text: str, subtype: str) -> list[str]:
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _quoted_printable(text),
    ]


def _multipart(subtype: str, parts: list[list[str]], params: str = "") -> list[str]:
    # Base64 never holds "=_" either ("=" is only padding at a line's end).
    boundary = f"=_triaged_{secrets.token_hex(16)}"
    lines = [f'Content-Type: multipart/{subtype};{_CRLF}{params} boundary="{boundary}"', ""]
    for part in parts:
        lines += [f"--{boundary}", *part]
    return [*lines, f"--{boundary}--", ""]


def _shown_inline(letter: Letter, file: LetterFile) -> bool:
    return bool(file.inline and file.content_id and letter.html)


def _text_body(letter: Letter) -> list[str]:
    """The text alone, or the text and the HTML as alternatives; the HTML's inline
    pictures beside it in a multipart/related (so a text-only reader sees no image)."""
    if not letter.html:
        return _text_part(letter.text, "plain")
    html = _text_part(letter.html, "html")
    inline = [f for f in letter.files if _shown_inline(letter, f)]
    if inline:
        html = _multipart("related", [html, *(_file_part(f) for f in inline)],
                          f' type="text/html";{_CRLF}')
    return _multipart("alternative", [_text_part(letter.text, "plain"), html])


def _body(letter: Letter) -> list[str]:
    """The body, then any file not shown inline, in a multipart/mixed."""
    body = _text_body(letter)
    attached = [f for f in letter.files if not _shown_inline(letter, f)]
    if not attached:
        return body
    return _multipart("mixed", [body, *(_file_part(f) for f in attached)])


_MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def _file_part(file: LetterFile) -> list[str]:
    """One file as base64, its name both as RFC 2231 (modern clients) and RFC 2047."""
    ctype = file.content_type.lower()
    if not _MIME_TYPE.fullmatch(ctype):
        ctype = "application/octet-stream"
    name = one_line(file.name).replace("\\", "_").replace('"', "_") or "file"
    if name.isascii() and name.isprintable():
        plain, extended = f'"{name}"', f'filename="{name}"'
    else:
        plain = '"' + "".join(_encoded_words(name, _WORD)) + '"'
        extended = "filename*=utf-8''" + quote(name, safe="")
    disposition = "inline" if file.inline and file.content_id else "attachment"
    lines = [f"Content-Type: {ctype};{_CRLF} name={plain}",
             f"Content-Disposition: {disposition};{_CRLF} {extended}",
             "Content-Transfer-Encoding: base64"]
    if disposition == "inline":
        lines.append(f"Content-ID: <{one_line(file.content_id).strip('<>')}>")
    encoded = base64.encodebytes(file.data).decode("ascii").replace("\n", _CRLF)
    return [*lines, "", encoded]


# -- the letter --------------------------------------------------------------


def _references(letter: Letter) -> list[str]:
    references = [one_line(r) for r in letter.references if r]
    if len(references) > MAX_REFERENCES:
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
    return references


class NotOneMailbox(ValueError):
    """A letter's recipient or sender is not exactly one mailbox; nothing was written."""


def compose(letter: Letter, sender: Address, *, now: datetime, message_id: str) -> bytes:
    """The complete message as bytes, CRLF line ends, ready for SMTP DATA.

    Raises `NotOneMailbox` rather than write a From or To header that a
    mail server could read as more than one address, whatever intake let by.
    """
    for role, address in (("recipient", letter.to), ("sender", sender)):
        if not is_one_mailbox(address.email):
            raise NotOneMailbox(f"letter {role} {why_not_one_mailbox(address.email)}")
    headers = [
        _address_header("From", sender),
        _address_header("To", letter.to),
        _text_header("Subject", letter.subject),
        f"Date: {format_datetime(now)}",
        f"Message-ID: {one_line(message_id)}",
    ]
    if letter.in_reply_to:
        headers.append(f"In-Reply-To: {one_line(letter.in_reply_to)}")
    references = _references(letter)
    if references:
        headers.append(_fold("References", references))
    # RFC 3834: mark the letter as automatic, and ask Exchange-style responders
    # not to answer it, so that no two robots can talk to each other.
    headers.append(f"Auto-Submitted: {one_line(letter.auto_submitted)}")
    headers.append("X-Auto-Response-Suppress: All")
    headers.append(f"Content-Language: {one_line(letter.language)}")
    headers.extend(_text_header(name, value) for name, value in letter.extra_headers)
    headers.append("MIME-Version: 1.0")
    # Non-ASCII can only remain in an address (RFC 6532); it is sent as UTF-8.
    return _CRLF.join([*headers, *_body(letter)]).encode("utf-8")
