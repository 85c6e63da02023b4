"""Turn bytes in a declared MIME charset into text, the way mail clients mean it.

Python's codec registry knows the standards, mail clients send what Windows and
old Unix mailers call those standards: Outlook labels UHC (cp949) text
`ks_c_5601-1987`, Thai Windows labels cp874 `windows-874` (which Python lacks),
and Windows-1252 travels as `iso-8859-1`. `decode_text` therefore maps a label
to an ordered tuple of codecs (the WHATWG Encoding Standard's choices where it
has one), tries each strictly, and only then falls back to replacement
characters. It never raises.
"""

from __future__ import annotations

import binascii
import codecs
import re
from dataclasses import dataclass

# What a label decodes with, tried in order, strictest (narrowest) guess first
# only where the wider codec maps some bytes differently.
# The last ISO-2022-JP entry is ours: JIS rows read through cp932 (see below).
_CP932_VIA_JIS = "x-triaged-iso2022jp-cp932"
_ISO2022JP = ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2", _CP932_VIA_JIS)
_ALIASES: dict[str, tuple[str, ...]] = {
    # Thai: cp874 is TIS-620 plus Windows punctuation in 0x80-0x9F.
    "windows-874": ("cp874",),
    "x-windows-874": ("cp874",),
    "tis-620": ("cp874",),
    "tis620": ("cp874",),
    "iso-8859-11": ("cp874",),
    # Korean: Outlook means Unified Hangul Code, a superset of EUC-KR.
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "ks_c_5601_1987": ("cp949",),
    "ksc5601": ("cp949",),
    "ksc_5601": ("cp949",),
    "euc-kr": ("cp949",),
    "euckr": ("cp949",),
    "x-windows-949": ("cp949",),
    "korean": ("cp949",),
    # Chinese: GB18030 is a superset of GB2312 and GBK.
    "gb2312": ("gb18030",),
    "gb_2312-80": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "cp936": ("gb18030",),
    "euc-cn": ("gb18030",),
    "cn-gb": ("gb18030",),
    "hz-gb-2312": ("hz",),
    "big5": ("cp950", "big5hkscs"),
    "x-x-big5": ("cp950", "big5hkscs"),
    # Japanese: Windows senders use the NEC/IBM extensions (①, ㈱) everywhere.
    "iso-2022-jp": _ISO2022JP,
    "iso-2022-jp-2": _ISO2022JP,
    "iso-2022-jp-3": (*_ISO2022JP, "iso2022_jp_3"),
    "csiso2022jp": _ISO2022JP,
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "x-sjis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932", "shift_jis_2004"),
    "ms_kanji": ("cp932",),
    "windows-31j": ("cp932",),
    "csshiftjis": ("cp932",),
    "euc-jp": ("euc_jp", "euc_jis_2004"),
    "x-euc-jp": ("euc_jp", "euc_jis_2004"),
    # Western: the WHATWG rule, Latin-1 and ASCII labels mean Windows-1252.
    "iso-8859-1": ("cp1252", "latin_1"),
    "iso8859-1": ("cp1252", "latin_1"),
    "latin1": ("cp1252", "latin_1"),
    "us-ascii": ("ascii", "utf_8", "cp1252"),
    "ascii": ("ascii", "utf_8", "cp1252"),
    "iso-8859-9": ("cp1254", "iso8859_9"),
    # Hebrew and Arabic "logical/explicit" variants are the plain charsets.
    "iso-8859-8-i": ("iso8859_8",),
    "iso-8859-8-e": ("iso8859_8",),
    "iso-8859-6-i": ("iso8859_6",),
    "iso-8859-6-e": ("iso8859_6",),
    "x-mac-cyrillic": ("mac_cyrillic",),
    "x-mac-roman": ("mac_roman",),
    "macintosh": ("mac_roman",),
    "unicode-1-1-utf-7": ("utf_7",),
    "utf-7": ("utf_7",),
    "utf8": ("utf_8",),
    "utf-8": ("utf_8",),
}

# Codecs Python accepts as labels that are not charsets of text.
_NOT_CHARSETS = frozenset(
    {"unicode_escape", "raw_unicode_escape", "undefined", "idna", "punycode", "mbcs", "oem"}
)
_UNKNOWN = ("utf_8", "cp1252")
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


@dataclass(frozen=True)
class Decoded:
    """Text from bytes, with a defect when the label did not fit the bytes."""

    text: str
    defect: str | None = None


def normalise_label(label: str | None) -> str:
    """Return the label lower-cased, unquoted, without an RFC 2231 language."""
    if not label:
        return ""
    cleaned = label.strip().strip("\"'").strip().lower()
    return cleaned.split("*", 1)[0]


def codecs_for(label: str | None) -> tuple[str, ...]:
    """Return the codecs to try for `label`, or () when nobody knows it."""
    name = normalise_label(label)
    if not name:
        return ()
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return ()
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in (
        _NOT_CHARSETS
    ):
        return ()
    return (info.name,)


def decode_text(data: bytes, label: str | None) -> Decoded:
    """Decode `data` as the sender meant `label`; never raises.

    Tries each codec for the label strictly; a label nobody knows is read as
    UTF-8, then Windows-1252. UTF-8 that does not decode is re-read as
    Windows-1252 when it holds no UTF-8 sequence at all (a mislabelled Latin-1
    mail), else kept as UTF-8 with replacement characters.
    """
    if data.isascii() and normalise_label(label) not in _ASCII_UNSAFE:
        return Decoded(data.decode("ascii"))
    candidates = codecs_for(label)
    defect = None
    if not candidates:
        defect = f"unknown charset {normalise_label(label) or '(none)'!r}" if label else None
        candidates = _UNKNOWN
    for codec in candidates:
        text = _try_strict(data, codec)
        if text is not None:
            return Decoded(text, defect)
    first = candidates[0]
    if first == "utf_8" and not _UTF8_SEQUENCE.search(data):
        first = "cp1252"
    shown = first.replace("_", "-")
    mismatch = f"text does not decode as {normalise_label(label) or 'utf-8'}; read as {shown}"
    return Decoded(_decode_replacing(data, first), defect or mismatch)


# Labels whose ASCII bytes do not mean ASCII characters (escape-based codecs).
_ASCII_UNSAFE = frozenset(
    {"utf-7", "unicode-1-1-utf-7", "hz-gb-2312", "utf-16", "utf-16le", "utf-16be", "utf-32"}
    | {"iso-2022-jp", "iso-2022-jp-2", "iso-2022-jp-3", "csiso2022jp", "iso-2022-kr"}
    | {"iso-2022-cn"}
)


def _try_strict(data: bytes, codec: str) -> str | None:
    try:
        if codec == _CP932_VIA_JIS:
            return _iso2022jp_via_cp932(data)
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError):
        return None


def _decode_replacing(data: bytes, codec: str) -> str:
    try:
        if codec == _CP932_VIA_JIS:
            return _iso2022jp_via_cp932(data, errors="replace")
        return data.decode(codec, errors="replace")
    except (LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


_ESCAPES: dict[bytes, str] = {
    b"\x1b(B": "ascii",
    b"\x1b(J": "ascii",
    b"\x1b(I": "kana",
    b"\x1b$B": "jis",
    b"\x1b$@": "jis",
    b"\x1b&@\x1b$B": "jis",
}
_ESCAPE = re.compile(rb"\x1b(?:&@\x1b\$B|[($][A-Z@])")
_UNDEFINED_IN_CP932 = b"\xff"


def _iso2022jp_via_cp932(data: bytes, errors: str = "strict") -> str:
    """Decode ISO-2022-JP as Windows does (CP50221): JIS X 0208 rows via cp932.

    Python's ISO-2022-JP codecs reject the NEC and IBM rows (①, ㈱, 髙) that
    Outlook and Japanese webmail put into ISO-2022-JP; cp932 has them, so each
    JIS pair is moved to its Shift_JIS position and the result read as cp932.
    """
    out = bytearray()
    mode = "ascii"
    pos = 0
    for match in _ESCAPE.finditer(data):
        _jis_run(data[pos : match.start()], mode, out)
        mode = _ESCAPES.get(match.group(), "unknown")
        pos = match.end()
    _jis_run(data[pos:], mode, out)
    return bytes(out).decode("cp932", errors)


def _jis_run(run: bytes, mode: str, out: bytearray) -> None:
    if mode == "ascii":
        out += run
    elif mode == "kana":
        out += bytes(b + 0x80 if 0x21 <= b <= 0x5F else b for b in run)
    elif mode == "jis":
        index = 0
        while index < len(run):
            first = run[index]
            if not 0x21 <= first <= 0x7E or index + 1 >= len(run):
                out.append(first if first < 0x21 else _UNDEFINED_IN_CP932[0])
                index += 1
                continue
            out += _jis_to_sjis(first, run[index + 1])
            index += 2
    else:
        out += _UNDEFINED_IN_CP932 * len(run)


def _jis_to_sjis(row: int, cell: int) -> bytes:
    lead = ((row + 1) >> 1) + (0x70 if row <= 0x5E else 0xB0)
    # Odd JIS rows take the low half of the Shift_JIS trail range, skipping 0x7F.
    trail = cell + (0x1F if cell <= 0x5F else 0x20) if row & 1 else cell + 0x7E
    return bytes((lead, trail & 0xFF))


_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAK = re.compile(r"[\r\n]+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_SPACE_ONLY = re.compile(r"[ \t]*")


def header_text(raw: str, fallback_label: str | None = None) -> str:
    """Return a raw header value unfolded, its 8-bit bytes decoded, RFC 2047 kept.

    `raw` is the value as the stdlib parser stores it (8-bit bytes as
    surrogate escapes). Raw 8-bit header bytes are read as UTF-8, else in
    `fallback_label` (the message's own charset), else Windows-1252.
    """
    text = raw
    if not raw.isascii():
        data = raw.encode("utf-8", "surrogateescape")
        text = _eight_bit_header(data, fallback_label)
    return _LINE_BREAK.sub(" ", _FOLD.sub("", text)).replace("\x00", "").strip()


def _eight_bit_header(data: bytes, fallback_label: str | None) -> str:
    """UTF-8 if it is UTF-8, else the message's charset, else UTF-8 or cp1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if fallback_label:
        for codec in codecs_for(fallback_label):
            text = _try_strict(data, codec)
            if text is not None:
                return text
    return decode_text(data, "utf-8").text


def decode_words(text: str) -> Decoded:
    """Decode RFC 2047 encoded words in `text` with the alias table; never raises.

    Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2), and
    adjacent words in one charset are joined as bytes before decoding, because
    real encoders split multi-byte characters across words.
    """
    if "=?" not in text:
        return Decoded(text)
    out: list[str] = []
    defects: list[str] = []
    pending = bytearray()
    pending_label = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[pos : match.start()]
        label, kind, payload = match.groups()
        word = _word_bytes(kind, payload)
        adjacent = pos > 0 and _SPACE_ONLY.fullmatch(gap) is not None and bool(pending_label)
        if word is None:
            defects.append(f"undecodable encoded word {match.group()[:60]!r}")
        if not adjacent or word is None or normalise_label(label) != pending_label:
            _flush(pending, pending_label, out, defects)
            pending_label = ""
            if not adjacent or word is None:
                out.append(gap)
        if word is None:
            out.append(match.group())
        else:
            pending += word
            pending_label = normalise_label(label)
        pos = match.end()
    _flush(pending, pending_label, out, defects)
    out.append(text[pos:])
    return Decoded("".join(out).replace("\x00", ""), "; ".join(defects) or None)


def _word_bytes(kind: str, payload: str) -> bytes | None:
    try:
        if kind in "qQ":
            return binascii.a2b_qp(payload.encode("ascii"), header=True)
        compact = payload.encode("ascii")
        return binascii.a2b_base64(compact + b"=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        return None


def _flush(pending: bytearray, label: str, out: list[str], defects: list[str]) -> None:
    if not pending:
        return
    decoded = decode_text(bytes(pending), label)
    out.append(decoded.text)
    if decoded.defect:
        defects.append(decoded.defect)
    pending.clear()
