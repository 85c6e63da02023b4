"""Reply tokens blanked out of what is shown or exported (pure).

A reply token lets whoever holds it approve a letter or answer an escalation
as the person it was sent to, so `triaged show` and `triaged export` never
write one: each text shaped like a token (`tokens.TOKEN_PATTERN`) becomes
`[token]`, wherever it stands: a subject, an address, a Message-ID, a line of
text or a stored mail. Whether a token would still verify needs the key and
its recipient; a blanked one that had expired costs nobody anything.

In stored mail a token may be hidden by the transfer encoding, so
`redact_mail` also looks behind quoted-printable soft line breaks, RFC 2047
encoded words and base64 bodies, and rewrites only what held a token: a mail
without one comes back byte for byte.
"""

from __future__ import annotations

import base64
import binascii
import re
from email.header import decode_header
from typing import Any

from triaged.domain.records import LetterState
from triaged.replies.tokens import TOKEN_PATTERN

MARK = "[token]"

# No word boundaries: a token glued to other letters is still blanked (with a
# few of them); blanking too much is harmless, missing a token is not.
_TOKEN = re.compile(TOKEN_PATTERN, re.IGNORECASE)
_SOFT_BREAK = re.compile(r"=\r?\n")
_WORD = r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?="
_WORD_RUN = re.compile(rf"{_WORD}(?:[ \t]*\r?\n?[ \t]+{_WORD})*")
# A base64 body: at least one full line of base64 after a blank line or another one.
_BASE64_BLOCK = re.compile(
    r"(?<=\n)(?:[A-Za-z0-9+/]{16,}={0,2}\r?\n)+(?:[A-Za-z0-9+/]*={0,2}\r?\n)?"
)


def redact_text(text: str) -> str:
    """`text` with every token-shaped substring replaced by `[token]`."""
    return _TOKEN.sub(MARK, text)


def redact_value(value: Any) -> Any:
    """Every string inside `value` (dicts, lists, tuples) redacted; other values as they are."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def redact_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A database row as `triaged export` writes it: every text and stored mail redacted.

    A letter not yet sent whose tokens were blanked could no longer do its job
    (a reply to `support+[token]@…` counts for nothing), so it is written as
    failed, saying why, rather than imported to be sent broken. Letters
    already delivered keep working after an import: a token is checked
    against the approval key, not against the database.
    """
    clean: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, bytes | memoryview):
            clean[name] = redact_mail(bytes(value))
        else:
            clean[name] = redact_text(value) if isinstance(value, str) else value
    unsent = row.get("state") in (LetterState.QUEUED, LetterState.SENDING)
    if table == "outbox_letter" and unsent and clean.get("raw") != bytes(row.get("raw") or b""):
        clean["state"] = LetterState.FAILED.value
        clean["last_error"] = ("not sent before the export, and its reply tokens are not "
                               "exported: ask again (a new draft or the next escalation)")
    return clean


def redact_mail(raw: bytes) -> bytes:
    """A stored mail with its tokens replaced, however they were encoded."""
    # Latin-1 maps each byte to one character and back, so bytes outside the
    # rewritten spans are kept exactly.
    text = raw.decode("latin-1")
    redacted = _redact_base64(_redact_words(_redact_across_soft_breaks(text)))
    return raw if redacted == text else redacted.encode("latin-1")


def _redact_across_soft_breaks(text: str) -> str:
    """Plain tokens, and tokens that quoted-printable broke over two lines."""
    joined_parts: list[str] = []
    # origin[i] is the index in `text` of the joined text's character i.
    origin: list[int] = []
    position = 0
    for soft in _SOFT_BREAK.finditer(text):
        joined_parts.append(text[position : soft.start()])
        origin.extend(range(position, soft.start()))
        position = soft.end()
    joined_parts.append(text[position:])
    origin.extend(range(position, len(text)))
    joined = "".join(joined_parts)
    spans = [(origin[m.start()], origin[m.end() - 1] + 1) for m in _TOKEN.finditer(joined)]
    for start, end in reversed(spans):
        text = text[:start] + MARK + text[end:]
    return text


def _redact_words(text: str) -> str:
    """Tokens inside RFC 2047 encoded words (a run of words is decoded together,
    since a long subject is split into several)."""

    def replace(run: re.Match[str]) -> str:
        try:
            decoded = "".join(
                part.decode(charset or "ascii", "replace") if isinstance(part, bytes) else part
                for part, charset in decode_header(run.group(0))
            )
        except (LookupError, ValueError, binascii.Error):
            return run.group(0)
        if not _TOKEN.search(decoded):
            return run.group(0)
        data = base64.b64encode(redact_text(decoded).encode("utf-8")).decode("ascii")
        return f"=?utf-8?b?{data}?="

    return _WORD_RUN.sub(replace, text)


def _redact_base64(text: str) -> str:
    """Tokens inside base64 bodies (re-encoded in 76-character lines)."""

    def replace(block: re.Match[str]) -> str:
        lines = block.group(0).splitlines()
        try:
            data = base64.b64decode("".join(lines), validate=True)
        except (binascii.Error, ValueError):
            return block.group(0)
        plain = data.decode("latin-1")
        if not _TOKEN.search(plain):
            return block.group(0)
        encoded = base64.b64encode(redact_text(plain).encode("latin-1")).decode("ascii")
        ending = "\r\n" if block.group(0).endswith("\r\n") else "\n"
        return "".join(encoded[i : i + 76] + ending for i in range(0, len(encoded), 76))

    return _BASE64_BLOCK.sub(replace, text)
