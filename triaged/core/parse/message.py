"""Raw message bytes to a `ParsedMail`, or a `QuarantineError` that says why.

The stdlib `email` parser (policy `compat32`: the same feed parser as
`policy.default`, but it leaves header values as raw text, which is 10-30x
faster than building `policy.default`'s header objects) finds the structure;
header values are unfolded and decoded by `charsets` with its alias table, so
that `ks_c_5601-1987`, `windows-874` and ISO-2022-JP read as the sender's
client meant them. `mail-parser` is the second opinion for the body and
attachments when the stdlib walk fails on a message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import errors, policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from triaged.core.attachments import type_of_name
from triaged.core.mailbox_syntax import is_one_mailbox, why_not_one_mailbox
from triaged.core.parse.charsets import decode_text, decode_words, header_text
from triaged.core.parse.html import html_to_text
from triaged.core.parse.tnef import TNEF_TYPES, unpack
from triaged.domain.errors import QuarantineError
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import Address, Attachment, ParsedMail

_ANGLE_ID = re.compile(r"<([^<>]*)>")
_ANGLE_ADDRESS = re.compile(r"<([^<>@\s]+@[^<>\s]+)>")
_WHITESPACE = re.compile(r"\s+")
_SENDER_HEADERS = ("From", "Sender", "Reply-To", "Return-Path")
_MAX_DEFECTS = 30


def parse_message(data: bytes, *, max_text_chars: int = 200_000) -> ParsedMail:
    """Parse one message; raise `QuarantineError` (and nothing else) if it cannot be used.

    The result always has a sender with an address and a `<...>` Message-ID
    (synthesised from the bytes' SHA-256 when missing). Whatever was repaired
    on the way (bad charset, bad date, missing Message-ID) is listed in
    `defects`; the text is capped at `max_text_chars`.
    """
    if not data.strip():
        raise QuarantineError("empty message: there are no bytes to parse")
    try:
        return _parse(data, max_text_chars)
    except QuarantineError:
        raise
    except RecursionError as exc:
        raise QuarantineError("parser failure: MIME structure nested too deeply") from exc
    except Exception as exc:
        raise QuarantineError(f"parser failure: {type(exc).__name__}: {exc}") from exc


def _parse(data: bytes, max_text_chars: int) -> ParsedMail:
    # A byte-order mark or blank lines before the first header would make the
    # parser see an empty header block; the ID is still hashed from `data`.
    message = _parse_structure(_header_start(data))
    defects: list[str] = []
    _cap_mime_parameters(message, defects)
    fallback = _content_charset(message)
    raw_items = [(name, _capped(name, value, defects)) for name, value in message.raw_items()]
    texts = [(name, header_text(value, fallback)) for name, value in raw_items]
    if not texts:
        raise QuarantineError("no mail headers: the bytes are not an email message")
    headers = tuple((name, _decoded(value, defects)) for name, value in texts)
    sender = _sender(texts, defects)
    message_id = _message_id(_first(texts, "Message-ID"), data, defects)
    walked = _collect_body(message, data, max_text_chars)
    defects.extend(walked.defects)
    defects.extend(_parser_defects(message))
    return ParsedMail(
        message_id=message_id,
        sender=sender,
        to=tuple(_addresses(_all(texts, "To")[:MAX_ADDRESS_FIELDS])),
        subject=_subject(_first(texts, "Subject") or "", defects),
        date=_date(_first(texts, "Date"), defects),
        text=walked.text,
        in_reply_to=_ids(_first(texts, "In-Reply-To") or ""),
        references=_ids(" ".join(_all(texts, "References"))),
        headers=headers,
        attachments=walked.attachments,
        defects=tuple(dict.fromkeys(defects))[:_MAX_DEFECTS],
        content_language=_decoded(_first(texts, "Content-Language") or "", defects).strip(),
        embedded=walked.embedded,
    )


_HEADER_LINE = re.compile(rb"[!-9;-~]+:|[ \t]|From ")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_MAX_REPAIRED_LINES = 50


def _parse_structure(data: bytes) -> Message:
    """Parse with the stdlib; repair a header block broken by unindented lines.

    Some relays drop the indentation of folded lines; the parser then ends the
    header block at the first such line and loses From or Content-Type. When
    that happens, and only a few lines are affected, those lines are re-read
    as continuations of the header above them.
    """
    message = BytesParser(policy=policy.compat32).parsebytes(data)
    if not any(type(d).__name__ == "MissingHeaderBodySeparatorDefect" for d in message.defects):
        return message
    end = _BLANK_LINE.search(data)
    if end is None:
        return message
    lines = data[: end.start()].splitlines(keepends=True)
    broken = [i for i, line in enumerate(lines) if i and not _HEADER_LINE.match(line)]
    if not broken or len(broken) > _MAX_REPAIRED_LINES:
        return message
    for index in broken:
        lines[index] = b" " + lines[index]
    repaired = BytesParser(policy=policy.compat32).parsebytes(b"".join(lines) + data[end.start() :])
    repaired.defects.append(HeaderLinesRepairedDefect())
    return repaired


class HeaderLinesRepairedDefect(errors.MessageDefect):
    """Header lines without indentation were read as continuation lines."""


# A header field's raw value is cut at this length before it is unfolded and
# its encoded words decoded. RFC 5322 limits lines to 998 characters; the
# longest real fields (a To of a few hundred people, the References of a long
# thread) fold to a few KB. A longer one is hostile or broken, and cutting it
# keeps its decoding cheap; the raw message is kept whole.
MAX_HEADER_CHARS = 16_384
# Address fields of one name (From, To) read at most: one is the rule, a few the
# exception; parsing each costs up to MAX_HEADER_CHARS.
MAX_ADDRESS_FIELDS = 10
# The decoded subject is cut here: staff read it in one line, and every
# subject rule (references, tokens, forward prefixes) looks at its start.
MAX_SUBJECT_CHARS = 1_000


# The stdlib reads MIME parameters (charset, boundary, file name) in time that
# grows with the value's length times its number of ";" inside quotes. Real
# Content-Type and Content-Disposition values, RFC 2231 file names included,
# stay well under this.
MAX_MIME_HEADER_CHARS = 4_096
_MIME_HEADERS = ("Content-Type", "Content-Disposition")


def _cap_mime_parameters(message: Message, defects: list[str]) -> None:
    """Cut every part's Content-Type and Content-Disposition before anyone reads them."""
    for part in message.walk():
        for name in _MIME_HEADERS:
            value = part.get(name)
            if isinstance(value, str) and len(value) > MAX_MIME_HEADER_CHARS:
                part.replace_header(name, value[:MAX_MIME_HEADER_CHARS])
                defects.append(f"{name} header cut at {MAX_MIME_HEADER_CHARS} characters")


def _capped(name: str, value: str, defects: list[str]) -> str:
    if len(value) <= MAX_HEADER_CHARS:
        return value
    defects.append(f"{name} header cut at {MAX_HEADER_CHARS} characters")
    return value[:MAX_HEADER_CHARS]


def _subject(value: str, defects: list[str]) -> str:
    subject = _one_line(_decoded(value, defects))
    if len(subject) <= MAX_SUBJECT_CHARS:
        return subject
    defects.append(f"subject cut at {MAX_SUBJECT_CHARS} characters")
    return subject[:MAX_SUBJECT_CHARS]


def _header_start(data: bytes) -> bytes:
    return data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")


def _content_charset(message: Message) -> str | None:
    charset = message.get_content_charset()
    return charset if isinstance(charset, str) else None


def _decoded(text: str, defects: list[str]) -> str:
    decoded = decode_words(text)
    if decoded.defect:
        defects.append(decoded.defect)
    return decoded.text


def _first(texts: list[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in texts if key.lower() == wanted), None)


def _all(texts: list[tuple[str, str]], name: str) -> list[str]:
    wanted = name.lower()
    return [value for key, value in texts if key.lower() == wanted]


def _one_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _addresses(values: list[str]) -> list[Address]:
    """Parse address headers leniently; encoded words are decoded after parsing.

    Decoding first would let a comma or quote inside an encoded display name
    split the address list.
    """
    found: list[Address] = []
    for value in values:
        for name, email in _pairs(value):
            email = email.strip()
            if email:
                found.append(Address(email=email, name=_one_line(decode_words(name).text)))
    return found


def _pairs(value: str) -> list[tuple[str, str]]:
    """(display name, address) pairs; an unquoted `a@b <c@d>` still means c@d."""
    try:
        pairs = getaddresses([value])
    except Exception:  # noqa: BLE001 - no error contract on junk: no address, then.
        pairs = []
    angles = _ANGLE_ADDRESS.findall(value)
    if len(angles) == 1 and [email for _, email in pairs] != angles:
        name = value[: value.index(f"<{angles[0]}>")].strip()
        if "@" in name and "," not in name:
            return [(name.strip('"').strip(), angles[0])]
    return pairs


def _usable(email: str) -> bool:
    return is_one_mailbox(email)


def _sender(texts: list[tuple[str, str]], defects: list[str]) -> Address:
    """The From mailbox, else the first usable one of Sender, Reply-To, Return-Path.

    A From that names an address must name exactly one valid mailbox. Several
    mailboxes, or one that holds a comma or a second `@`, is quarantined with
    the reason rather than read as some address: which one would be the
    customer is a guess, and such a From is how a second recipient is
    smuggled into our letters. Quarantine keeps the bytes for staff
    (`triaged quarantine show`) and tells them through its count; a customer
    whose From is one mailbox is unaffected. A From with no address at all
    (`From: MAILER-DAEMON`) still falls back to the other headers, and a From
    header repeated with the same mailbox counts once.
    """
    froms = _all(texts, "From")
    if len(froms) > MAX_ADDRESS_FIELDS:
        # Each field is parsed, at up to MAX_HEADER_CHARS apiece: hundreds of them
        # would cost seconds, and no mail program writes more than one.
        raise QuarantineError(f"From repeated {len(froms)} times: a complaint is answered "
                              "to exactly one sender")
    found = [a for a in _addresses(froms) if "@" in a.email]
    # A repeated From header naming the same mailbox again is still one sender.
    claimed = list({mailbox_key(a.email): a for a in reversed(found)}.values())[::-1]
    if len(claimed) > 1:
        listed = ", ".join(a.email[:80] for a in claimed[:5])
        raise QuarantineError(f"From names {len(claimed)} mailboxes ({listed}): "
                              "a complaint is answered to exactly one sender")
    if claimed:
        if not _usable(claimed[0].email):
            raise QuarantineError(f"From {why_not_one_mailbox(claimed[0].email)}")
        return claimed[0]
    for header in _SENDER_HEADERS[1:]:
        for address in _addresses(_all(texts, header)):
            if _usable(address.email):
                defects.append(f"no usable From address; sender taken from {header}")
                return address
    wanted = {header.lower() for header in _SENDER_HEADERS}
    present = [f"{name}: {value[:60]!r}" for name, value in texts if name.lower() in wanted]
    if not present:
        raise QuarantineError("no sender address: no From, Sender, Reply-To or Return-Path")
    raise QuarantineError(f"no usable sender address in {'; '.join(present)}")


def _message_id(value: str | None, data: bytes, defects: list[str]) -> str:
    normalised = _normalise_id(value or "")
    if normalised:
        return normalised
    defects.append("no Message-ID" if value is None else f"unusable Message-ID {value[:80]!r}")
    return f"<{hashlib.sha256(data).hexdigest()}@triaged.invalid>"


def _normalise_id(value: str) -> str:
    match = _ANGLE_ID.search(value)
    inner = match.group(1) if match else value
    inner = _WHITESPACE.sub("", inner)
    return f"<{inner}>" if inner else ""


def _ids(value: str) -> tuple[str, ...]:
    """Every `<...>` id in `value` in order, once; text between them is ignored."""
    found = (_WHITESPACE.sub("", inner) for inner in _ANGLE_ID.findall(value))
    return tuple(dict.fromkeys(f"<{inner}>" for inner in found if inner))


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if value is None:
        defects.append("no Date")
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"unparseable Date {value[:80]!r}")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 "-0000": the time is UTC, the sender's zone is unknown.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.append(f"Date out of range {value[:80]!r}")
        return None


# ---------------------------------------------------------------- body

_MAX_DEPTH = 40
_HTML_INPUT_FACTOR = 4
_NOT_DESCENDED = frozenset({"message/delivery-status", "message/disposition-notification"})


@dataclass
class _Body:
    """What the walk found; mutable while walking, frozen into ParsedMail after."""

    max_chars: int
    pieces: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    embedded: list[bytes] = field(default_factory=list)
    # Bodies found inside winmail.dat, used only when the mail has no other text.
    tnef_texts: list[str] = field(default_factory=list)
    chars: int = 0

    def joined_text(self) -> str:
        """The pieces joined, cut at `max_chars` (the cut is recorded as a defect)."""
        joined = "\n\n".join(self.pieces)
        if len(joined) > self.max_chars:
            self.defects.append(f"text cut at {self.max_chars} characters")
            return joined[: self.max_chars]
        return joined


@dataclass(frozen=True)
class _Walked:
    text: str
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...]
    embedded: tuple[bytes, ...] = ()


def _collect_body(message: Message, data: bytes, max_chars: int) -> _Walked:
    """Body text and attachment metadata; mail-parser's reading if the walk fails."""
    body = _Body(max_chars)
    try:
        _visit(message, body, wanted=True, depth=0)
    except RecursionError:
        raise
    except Exception as exc:  # noqa: BLE001 - any walk failure falls back to mail-parser
        return _collect_with_mailparser(data, max_chars, f"{type(exc).__name__}: {exc}")
    if not body.pieces and body.tnef_texts:
        # Only Outlook's container has words: read them rather than nothing.
        body.pieces.extend(body.tnef_texts)
        body.defects.append("body read from winmail.dat (TNEF)")
    text = body.joined_text()
    return _Walked(text, tuple(body.attachments), tuple(body.defects), tuple(body.embedded))


def _visit(part: Message, body: _Body, *, wanted: bool, depth: int,
           inside: bool = False) -> None:
    """Walk `part`; `wanted` is False inside alternatives we did not choose, `inside`
    True within an attached message (whose files are its writer's, see `Attachment`)."""
    if depth > _MAX_DEPTH:
        body.defects.append(f"MIME parts nested deeper than {_MAX_DEPTH} were skipped")
        return
    if part.is_multipart():
        _visit_container(part, body, wanted=wanted, depth=depth, inside=inside)
    else:
        _visit_leaf(part, body, wanted=wanted, inside=inside)


def _visit_container(part: Message, body: _Body, *, wanted: bool, depth: int,
                     inside: bool) -> None:
    """A part with parts: a multipart, or a message (attached, or a report) to keep."""
    ctype = part.get_content_type()
    if ctype == "message/rfc822":
        _keep_embedded(part, body)
    attached = ctype.startswith("message/") and part.get_content_disposition() == "attachment"
    if ctype in _NOT_DESCENDED or attached:
        data = _message_bytes(part)
        body.attachments.append(_attachment(part, ctype, len(data), data=data, inside=inside))
        if ctype in _NOT_DESCENDED:
            return
        # An attached message's own files are kept too, marked as its writer's;
        # its text is not the sender's words and is left out of ours.
        wanted, inside = False, True
    children = [child for child in part.get_payload() if isinstance(child, Message)]
    chosen = _preferred(children) if ctype == "multipart/alternative" else None
    for child in children:
        _visit(child, body, wanted=wanted and chosen in (None, child), depth=depth + 1,
               inside=inside)


def _visit_leaf(part: Message, body: _Body, *, wanted: bool, inside: bool) -> None:
    """A part without parts: text of the body (when `wanted`), or a file."""
    ctype = part.get_content_type()
    disposition = part.get_content_disposition()
    if ctype.startswith("multipart/"):
        # No boundary was found, so the "multipart" is one block of text; show it.
        ctype = "text/plain"
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    filename = _filename(part)
    is_text = ctype in ("text/plain", "text/html") and disposition != "attachment"
    if not is_text or (filename and disposition != "inline"):
        body.attachments.append(_attachment(part, ctype, len(content), filename, data=content,
                                            inside=inside))
        if ctype in TNEF_TYPES or filename.lower() == "winmail.dat":
            _add_tnef(content, body)
    elif wanted and body.chars <= body.max_chars:
        _add_text(part, ctype, content, body)


def _message_bytes(part: Message) -> bytes:
    """The bytes of an attached message (or report) part, as an `.eml` would hold them."""
    children = [child for child in part.get_payload() if isinstance(child, Message)]
    try:
        return b"".join(child.as_bytes(policy=policy.compat32) for child in children[:1])
    except Exception:  # noqa: BLE001 - an unprintable part is listed without its bytes
        return b""


def _add_tnef(content: bytes, body: _Body) -> None:
    unpacked = unpack(content)
    body.attachments.extend(unpacked.attachments)
    if unpacked.defect:
        body.defects.append(unpacked.defect)
    if unpacked.text:
        body.tnef_texts.append(unpacked.text[: body.max_chars])


# A forward's original is read from its message/rfc822 part (parse.forwarded);
# a few are enough, and a cap keeps a mail of huge attachments cheap.
_MAX_EMBEDDED = 3
_MAX_EMBEDDED_BYTES = 2_000_000


def _keep_embedded(part: Message, body: _Body) -> None:
    """Keep the bytes of an attached or inline message/rfc822 part, for forwards."""
    if len(body.embedded) >= _MAX_EMBEDDED:
        return
    children = [child for child in part.get_payload() if isinstance(child, Message)]
    if not children:
        return
    try:
        data = children[0].as_bytes(policy=policy.compat32)
    except Exception:  # noqa: BLE001 - an unprintable part is simply not used as an original
        body.defects.append("embedded message could not be re-read")
        return
    if len(data) <= _MAX_EMBEDDED_BYTES:
        body.embedded.append(data)


def _preferred(children: list[Message]) -> Message | None:
    """Plain text if the alternative has it, else the last (richest) part."""
    for child in children:
        if child.get_content_type() == "text/plain":
            return child
    return children[-1] if children else None


def _add_text(part: Message, ctype: str, content: bytes, body: _Body) -> None:
    if ctype == "text/html":
        content = content[: body.max_chars * _HTML_INPUT_FACTOR]
    decoded = decode_text(content, _part_charset(part))
    if decoded.defect:
        body.defects.append(f"{ctype}: {decoded.defect}")
    text = decoded.text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if ctype == "text/html":
        text = html_to_text(text, limit=body.max_chars)
    text = text.strip()
    if text:
        body.pieces.append(text)
        body.chars += len(text)


def _part_charset(part: Message) -> str | None:
    charset = part.get_param("charset")
    if isinstance(charset, tuple):
        charset = charset[2]
    return charset if isinstance(charset, str) else None


def _filename(part: Message) -> str:
    """The part's file name: RFC 2231 (by the stdlib), then RFC 2047 (our table)."""
    safe = _eight_bit_safe(part)
    name = safe.get_filename() or safe.get_param("name")
    if isinstance(name, tuple):
        name = name[2]
    if not isinstance(name, str):
        return ""
    return _one_line(decode_words(header_text(name)).text)


def _eight_bit_safe(part: Message) -> Message:
    """`part`, or a copy of its MIME headers with raw 8-bit bytes decoded.

    compat32 turns a header with raw 8-bit bytes into replacement characters
    when asked for a parameter; decoding the bytes first keeps a raw UTF-8
    file name (common from webmail) readable.
    """
    raw = [(n, v) for n, v in part.raw_items() if n.lower().startswith("content-")]
    if all(value.isascii() for _, value in raw):
        return part
    copy = Message()
    for name, value in raw:
        copy[name] = header_text(value, _part_charset(part))
    return copy


def _attachment(part: Message, ctype: str, size: int, filename: str = "", *,
                data: bytes = b"", inside: bool = False) -> Attachment:
    filename = filename or _filename(part)
    declared = str(part.get("Content-Type") or "").split(";")[0].strip()
    if ctype == "text/plain" and "/" not in declared:
        # No usable type was declared (the parser then says text/plain): the name's.
        ctype = type_of_name(filename) or ctype
    content_id = part.get("Content-ID")
    cid = _one_line(str(content_id)).strip("<>")[:200] if content_id else ""
    disposition = part.get_content_disposition()
    return Attachment(filename=filename, content_type=ctype, size=size,
                      data=data, inline=disposition == "inline" or (not disposition and
                                                                     bool(cid)),
                      content_id=cid, embedded=inside, note=_decoding_note(part, data))


# The stdlib's base64 defects, as staff read them; with a bad length it returns the
# text as it arrived, undecoded.
_BASE64_NOTES = {
    "InvalidBase64LengthDefect": "broken base64 (bad length): kept as it arrived, undecoded",
    "InvalidBase64CharactersDefect": "broken base64: invalid characters were skipped",
    "InvalidBase64PaddingDefect": "broken base64: padding was repaired",
}


def _decoding_note(part: Message, data: bytes) -> str:
    notes = [_BASE64_NOTES[type(d).__name__] for d in part.defects
             if type(d).__name__ in _BASE64_NOTES]
    if not notes and not data:
        notes.append("empty file (0 bytes)")
    return "; ".join(dict.fromkeys(notes))


def _parser_defects(message: Message) -> list[str]:
    """The stdlib parser's defect class names, once each, for operators."""
    names: list[str] = []
    for part in message.walk():
        names.extend(type(defect).__name__ for defect in part.defects)
    return list(dict.fromkeys(names))


def _collect_with_mailparser(data: bytes, max_chars: int, failure: str) -> _Walked:
    """Second opinion: mail-parser reads the body when our walk failed."""
    import mailparser

    try:
        parsed = mailparser.parse_from_bytes(data)
        plain = [text for text in parsed.text_plain if text.strip()]
        pieces = plain or [html_to_text(text) for text in parsed.text_html]
        attachments = tuple(
            Attachment(
                filename=str(item.get("filename") or ""),
                content_type=str(item.get("mail_content_type") or ""),
                size=len(str(item.get("payload") or "")),
            )
            for item in parsed.attachments
        )
    except Exception as exc:
        raise QuarantineError(f"parser failure: {failure}; mail-parser: {exc}") from exc
    text = "\n\n".join(piece.strip() for piece in pieces)[:max_chars]
    return _Walked(text, attachments, (f"stdlib body walk failed ({failure}); mail-parser used",))
