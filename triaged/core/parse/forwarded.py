"""Whose complaint is a forwarded mail? The original customer's, when we can tell.

Small businesses forward support mail from their own address; the complaint
belongs to the original customer, never to the forwarder nor to any other
address merely quoted in the body. `attribute` reads, in this order, what a
real forward carries:

- `X-Original-From` (a Google Group or list that rewrote From for DMARC: our
  own address, or one listed as a forwarder),
- a `message/rfc822` part ("forward as attachment": Thunderbird, Apple Mail,
  Outlook attaching the .eml),
- an inline forward block as Gmail, Outlook (desktop, web, mobile), Apple Mail
  and Thunderbird write it, with its labels in any of the languages below,
- `Reply-To` (a web form or alias that sends as itself on the customer's behalf),
- `Resent-From` (a "redirect": From is already the customer, the forwarder is
  recorded).

Trust decides what a forward may do. Mail from a configured forwarder (or from
one of our own addresses) is re-attributed whenever an original sender is
found, and when none is, the complaint stays with the forwarder and staff are
told (`Unattributed`). Mail from anyone else is never re-attributed: a forward
names whoever its sender chooses, so it is the sender's own complaint, and
only the sender is ever answered. When it is plainly a forward (an attached
message, or an inline block under a forward separator or a forwarding subject
prefix, with at most a short note on top) the author it names is recorded for
staff (`PassedOn`). A customer who writes several lines and quotes a courier's
mail below is complaining themselves: nothing to record. A redirect
(`Resent-From`) keeps From as the customer, as any mail does.

Pure logic: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parsedate_to_datetime

from triaged.core.parse.message import MAX_SUBJECT_CHARS, parse_message
from triaged.core.parse.patterns import ADDRESS
from triaged.domain.errors import QuarantineError
from triaged.domain.records import Address, ParsedMail

# Labels of the forward header block, lower-case, in en de fr es ro ko ja th tl
# (and a few neighbours: it nl pt sv pl ru zh), as the clients write them.
FROM_LABELS = frozenset({
    "from", "von", "de", "de la", "da", "van", "från", "fra", "od", "от",
    "보낸사람", "보낸 사람", "差出人", "送信者", "发件人", "寄件者", "จาก", "mula kay", "mula sa",
    "mula",
})
DATE_LABELS = frozenset({
    "date", "sent", "sent at", "datum", "gesendet", "envoyé", "fecha", "enviado", "enviado el",
    "data", "dată", "trimis", "날짜", "보낸 날짜", "日付", "送信日時", "日時", "日期", "发送时间",
    "發送時間", "วันที่", "ส่ง", "ส่งเมื่อ", "petsa", "ipinadala", "inviato", "verzonden",
    "skickat", "wysłano", "отправлено",
})
SUBJECT_LABELS = frozenset({
    "subject", "betreff", "objet", "sujet", "asunto", "subiect", "제목", "件名", "主题", "主旨",
    "เรื่อง", "paksa", "oggetto", "onderwerp", "assunto", "ämne", "temat", "тема",
})
TO_LABELS = frozenset({
    "to", "an", "à", "a", "pour", "para", "către", "catre", "받는사람", "받는 사람", "宛先",
    "收件人", "ถึง", "para kay", "kay", "cc", "kopie", "aan", "till", "do", "кому",
})
_LABELS = FROM_LABELS | DATE_LABELS | SUBJECT_LABELS | TO_LABELS

# Lines that open a forwarded message (lower-case, matched inside the line).
FORWARD_SEPARATORS = (
    "forwarded message", "begin forwarded message", "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht", "message transféré", "message transfere",
    "début du message réexpédié", "debut du message reexpedie", "mensaje reenviado",
    "inicio del mensaje reenviado", "mesaj redirecționat", "mesaj redirectionat",
    "începutul mesajului redirecționat", "mesaj transmis", "전달된 메시지", "전달된 메일",
    "전달 메시지", "転送メッセージ", "転送されたメッセージ", "转发的邮件", "ข้อความที่ส่งต่อ",
    "เริ่มข้อความที่ส่งต่อ", "ipinasang mensahe", "messaggio inoltrato",
    "doorgestuurd bericht", "mensagem encaminhada", "vidarebefordrat meddelande",
)
# Separators that open a reply's quote as often as a forward's: enough for a
# trusted forwarder, not for a stranger.
ORIGINAL_SEPARATORS = (
    "original message", "ursprüngliche nachricht", "message d'origine", "mensaje original",
    "mesaj original", "원본 메시지", "元のメッセージ", "ข้อความต้นฉบับ", "orihinal na mensahe",
)

# Subject prefixes that mean "forwarded" in the clients' languages.
_FORWARD_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|odp|res|r|回复|답장)\s*[:：]\s*)*"
    r"(?:fwd?|wg|tr|rv|enc|i|doorst|vb|vl|pd|fs|转发|轉寄|転送|전달|ส่งต่อ|redirecționat)\s*[:：]",
    re.IGNORECASE,
)
_LABEL_LINE = re.compile(
    r"^[ \t]*[*_]*(?P<label>[^\W\d_][^:：\t\n]{0,24}?)[*_]*[ \t\u00a0]*[:：][*_]*[ \t\u00a0]*"
    r"(?P<value>.*)$"
)
_QUOTE = re.compile(r"^[ \t]*>[ \t]?")
_EMAIL = re.compile(ADDRESS)
_MAX_NOTE_CHARS = 300
_MAX_BLOCK_LINES = 12


@dataclass(frozen=True)
class ForwardContext:
    """Whose mail is trusted to be a forward: ours and the configured forwarders."""

    own_addresses: frozenset[str] = frozenset()
    forwarders: frozenset[str] = frozenset()

    def trusted(self, email: str) -> bool:
        lowered = email.lower()
        return lowered in self.forwarders or lowered in self.own_addresses

    def is_us(self, email: str) -> bool:
        return email.lower() in self.own_addresses or email.lower() in self.forwarders


@dataclass(frozen=True)
class Attribution:
    """The original customer of a forwarded mail, and who forwarded it.

    `message_id`, `in_reply_to` and `references` are the original's when the
    forward carries them (an attached message, a redirect); an inline block has
    none. `date_text` is the date as the block wrote it, `date` when readable.
    """

    customer: Address
    subject: str
    text: str
    date: datetime | None
    date_text: str
    forwarder: Address
    source: str
    message_id: str = ""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()

    def applied_to(self, mail: ParsedMail) -> ParsedMail:
        """`mail` as the original customer wrote it, for classification and threading."""
        return replace(
            mail, sender=self.customer, subject=self.subject, text=self.text,
            date=self.date if self.date is not None else mail.date,
            in_reply_to=self.in_reply_to or mail.in_reply_to,
            references=self.references or mail.references,
        )


@dataclass(frozen=True)
class PassedOn:
    """A plain forward from someone not trusted to forward: the complaint stays the
    sender's. `author` is who the forward names as its writer, for staff to read;
    nothing is ever sent to that address."""

    author: Address
    subject: str
    date_text: str
    source: str


@dataclass(frozen=True)
class Unattributed:
    """A forwarder's mail in which no original sender could be found."""

    forwarder: Address
    why: str


def attribute(
    mail: ParsedMail, ctx: ForwardContext
) -> Attribution | Unattributed | PassedOn | None:
    """Who the complaint in `mail` belongs to; None (or `PassedOn`, naming the
    forwarded mail's author) when it is simply the sender's."""
    if _automatic(mail):
        # A bounce, report or auto-reply carries the returned message inside it:
        # that is never a forward, and its sender is never our customer.
        return None
    sender = mail.sender
    if ctx.trusted(sender.email):
        found = (
            _from_original_header(mail, ctx)
            or _from_embedded(mail, ctx, strict=False)
            or _from_inline(mail, ctx, strict=False)
            or _from_reply_to(mail, ctx)
        )
        if found is not None:
            return found
        if sender.email.lower() in ctx.forwarders:
            return Unattributed(sender, "no original sender found in the forwarded mail")
        return None
    resent = _resent_from(mail, ctx)
    if resent is not None:
        return resent
    found = _from_embedded(mail, ctx, strict=True) or _from_inline(mail, ctx, strict=True)
    if found is None:
        return None
    return PassedOn(found.customer, found.subject, found.date_text, found.source)


def is_forward_subject(subject: str) -> bool:
    """Whether `subject` starts with a forwarding prefix (Fwd:, WG:, TR:, RV:, 転送: …)."""
    return _FORWARD_SUBJECT.match(subject) is not None


def strip_forward_prefixes(subject: str) -> str:
    """The subject without its leading Re:/Fwd:-style prefixes."""
    rest = subject
    while True:
        match = re.match(
            r"^\s*(?:fwd?|wg|tr|rv|enc|i|doorst|vb|vl|pd|fs|re|aw|sv|vs|antw|odp|res|"
            r"转发|轉寄|転送|전달|ส่งต่อ|回复|답장)\s*[:：]\s*",
            rest, re.IGNORECASE,
        )
        if match is None:
            return rest.strip()
        rest = rest[match.end():]


_ROBOT_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})


def _automatic(mail: ParsedMail) -> bool:
    """Machine-made mail by its headers (the signs `classify` also uses)."""
    ctype = (mail.header("Content-Type") or "").lower()
    auto = (mail.header("Auto-Submitted") or "no").split(";", 1)[0].strip().lower()
    return_path = (mail.header("Return-Path") or "x").replace(" ", "")
    local = mail.sender.email.rpartition("@")[0].lower()
    return ("multipart/report" in ctype or auto != "no" or return_path in ("<>", "")
            or local in _ROBOT_LOCAL_PARTS)


# -- header sources ------------------------------------------------------------


def _first_address(value: str | None) -> Address | None:
    if not value:
        return None
    return _address_in(value)


def _from_original_header(mail: ParsedMail, ctx: ForwardContext) -> Attribution | None:
    original = _first_address(mail.header("X-Original-From"))
    if original is None or _unusable(original, ctx, mail):
        return None
    return Attribution(
        customer=original, subject=mail.subject, text=mail.text, date=mail.date,
        date_text=mail.header("Date") or "", forwarder=mail.sender, source="x-original-from",
        message_id=mail.message_id, in_reply_to=mail.in_reply_to, references=mail.references,
    )


def _from_reply_to(mail: ParsedMail, ctx: ForwardContext) -> Attribution | None:
    original = _first_address(mail.header("Reply-To"))
    if original is None or _unusable(original, ctx, mail):
        return None
    return Attribution(
        customer=original, subject=strip_forward_prefixes(mail.subject), text=mail.text,
        date=mail.date, date_text=mail.header("Date") or "", forwarder=mail.sender,
        source="reply-to",
    )


def _resent_from(mail: ParsedMail, ctx: ForwardContext) -> Attribution | None:
    resent = _first_address(mail.header("Resent-From"))
    if resent is None or resent.email.lower() == mail.sender.email.lower():
        return None
    return Attribution(
        customer=mail.sender, subject=mail.subject, text=mail.text, date=mail.date,
        date_text=mail.header("Date") or "", forwarder=resent, source="resent-from",
        message_id=mail.message_id, in_reply_to=mail.in_reply_to, references=mail.references,
    )


def _unusable(original: Address, ctx: ForwardContext, mail: ParsedMail) -> bool:
    """Never hand a complaint to ourselves, the forwarder, or a robot."""
    email = original.email.lower()
    local = email.rpartition("@")[0].split("+", 1)[0]
    robots = {"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply"}
    return ctx.is_us(email) or email == mail.sender.email.lower() or local in robots


# -- message/rfc822 ----------------------------------------------------------------


def _from_embedded(mail: ParsedMail, ctx: ForwardContext, *, strict: bool) -> Attribution | None:
    if not mail.embedded:
        return None
    if strict and len(_note_of(mail.text, mail.embedded)) > _MAX_NOTE_CHARS:
        return None
    for data in mail.embedded:
        try:
            inner = parse_message(data)
        except QuarantineError:
            continue
        if _unusable(inner.sender, ctx, mail):
            continue
        return Attribution(
            customer=inner.sender, subject=inner.subject, text=inner.text, date=inner.date,
            date_text=inner.header("Date") or "", forwarder=mail.sender,
            source="message/rfc822", message_id=inner.message_id,
            in_reply_to=inner.in_reply_to, references=inner.references,
        )
    return None


def _note_of(text: str, embedded: tuple[bytes, ...]) -> str:
    """What the forwarder wrote above an attached message: the text before its body."""
    # The walk joins the outer text and the inner text; the inner begins where
    # the attached message's first body line appears.
    first_inner = ""
    for data in embedded:
        body = data.split(b"\n\n", 1)[-1].split(b"\r\n\r\n", 1)[-1].strip()
        first_inner = body.decode("utf-8", "replace").splitlines()[0] if body else ""
        break
    if first_inner and first_inner in text:
        return text[: text.index(first_inner)].strip()
    return text.strip()


# -- inline forward blocks ----------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    start: int  # index of the block's first field line
    end: int  # index after its last field line
    fields: dict[str, str]  # kind ("from", "date", "subject", "to") -> value
    quoted: bool
    separator: str  # "forward", "original", "rule" or ""


def _from_inline(mail: ParsedMail, ctx: ForwardContext, *, strict: bool) -> Attribution | None:
    lines = mail.text.splitlines()
    for block in _blocks(lines):
        customer = _address_in(block.fields["from"])
        if customer is None or _unusable(customer, ctx, mail):
            continue
        if strict and not _plainly_forwarded(block, lines, mail.subject):
            return None
        body = [_QUOTE.sub("", line) if block.quoted else line for line in lines[block.end :]]
        subject = block.fields.get("subject") or strip_forward_prefixes(mail.subject)
        date_text = block.fields.get("date", "")
        return Attribution(
            customer=customer, subject=" ".join(subject.split())[:MAX_SUBJECT_CHARS],
            text="\n".join(body).strip(), date=_readable_date(date_text), date_text=date_text,
            forwarder=mail.sender, source="inline",
        )
    return None


def _plainly_forwarded(block: _Block, lines: list[str], subject: str) -> bool:
    if block.separator != "forward" and not is_forward_subject(subject):
        return False
    note_end = block.start - (1 if block.separator else 0)
    note = "\n".join(lines[: max(note_end, 0)]).strip()
    return len(note) <= _MAX_NOTE_CHARS


def _blocks(lines: list[str]) -> list[_Block]:
    """Every forward header block: a From line with others of the set around it."""
    found: list[_Block] = []
    # Each line is read as a field once, though up to _MAX_BLOCK_LINES tries look at it.
    seen: dict[int, tuple[str, str] | None] = {}

    def field_at(index: int) -> tuple[str, str] | None:
        if index not in seen:
            seen[index] = _field(lines[index])
        return seen[index]

    index = 0
    while index < len(lines):
        block = _block_at(lines, index, field_at)
        if block is None:
            index += 1
            continue
        found.append(block)
        index = block.end
    return found


# A field's label and colon come first: a label has at most 25 characters, and
# the indentation, quote marks and emphasis before it are short in real mail.
_MAX_COLON_AT = 80


def _field(line: str) -> tuple[str, str] | None:
    head = line[:_MAX_COLON_AT]
    if ":" not in head and "：" not in head:
        return None
    match = _LABEL_LINE.match(_QUOTE.sub("", line))
    if match is None:
        return None
    label = " ".join(match["label"].replace("\u00a0", " ").lower().split())
    if label not in _LABELS:
        return None
    value = match["value"].strip().strip("*").strip()
    for kind, labels in (("from", FROM_LABELS), ("date", DATE_LABELS),
                         ("subject", SUBJECT_LABELS), ("to", TO_LABELS)):
        if label in labels:
            return kind, value
    return None


def _block_at(
    lines: list[str], start: int, field_at: Callable[[int], tuple[str, str] | None]
) -> _Block | None:
    first = field_at(start)
    if first is None:
        return None
    fields: dict[str, str] = {}
    end = start
    while end < len(lines) and end - start < _MAX_BLOCK_LINES:
        parsed = field_at(end)
        if parsed is None:
            # A long To: or Cc: list may wrap onto a line of its own, and HTML
            # turned to text may leave a blank line between two fields.
            wrapped = "@" in lines[end] or not lines[end].strip()
            if fields and wrapped and end + 1 < len(lines) and field_at(end + 1):
                end += 1
                continue
            break
        kind, value = parsed
        fields.setdefault(kind, value)
        end += 1
    if "from" not in fields or not ({"date", "subject"} & set(fields)):
        return None
    return _Block(start, end, fields, quoted=bool(_QUOTE.match(lines[start])),
                  separator=_separator_above(lines, start))


def _separator_above(lines: list[str], start: int) -> str:
    """The kind of separator line just above a block (blank lines skipped)."""
    index = start - 1
    while index >= 0 and not _QUOTE.sub("", lines[index]).strip():
        index -= 1
    if index < 0:
        return ""
    line = _QUOTE.sub("", lines[index]).strip().lower()
    if any(phrase in line for phrase in FORWARD_SEPARATORS):
        return "forward"
    if any(phrase in line for phrase in ORIGINAL_SEPARATORS):
        return "original"
    if len(line) >= 10 and set(line) <= {"_", "-", "—", " "}:
        return "rule"
    return ""


def _address_in(value: str) -> Address | None:
    """The first address in a forward's From value, with the display name before it.

    Clients write `Name <a@b>`, `Name [mailto:a@b]`, `"Name" <mailto:a@b>` or
    just `a@b`; an address quoted in the body never gets here.
    """
    match = _EMAIL.search(value)
    if match is None:
        return None
    name = value[: match.start()]
    # Trimmed from the ends, not by a pattern anchored at `$`: that one tried every
    # position of a long run of brackets or quotes (time quadratic in the name's length).
    name = name.strip().removesuffix("mailto:").strip()
    name = name.strip("\"' <[(").strip()
    if "@" in name:
        name = ""
    return Address(match.group(0).rstrip("."), " ".join(name.split()))


def _readable_date(text: str) -> datetime | None:
    """The block's date when it is an RFC 5322 date (Thunderbird writes one)."""
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None
