"""Which language a customer wrote in, as a template folder names it (pure).

`detect_language` looks only at what the customer wrote themselves: quoted
replies, signatures and the header lines of forwarded mail are removed first
(`own_text`), so that a Korean complaint above our quoted English letter reads
as Korean. Scripts decide before statistics (`script_language`): a text in
Hangul, kana or Thai script is Korean, Japanese or Thai whatever product names
it mixes in, and no model is consulted. Everything else goes to a statistical
identifier (`guess`, py3langid — chosen by measurement, see
`bench/language_detection.py`). A `Content-Language` header counts when it
names a language we have templates for and the text does not clearly say
otherwise: mail clients often set it to their own interface language.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from triaged.domain.records import ParsedMail

# ----------------------------------------------------------------- own text

# "On Mon, 23 Nov 2026 at 10:00, Acme <support@acme.example> wrote:" as mail
# clients write it in our customers' languages. Only the closing words are
# matched; `_is_attribution` also wants a digit or an address on the line.
_WROTE = re.compile(
    r"(wrote|writes|schrieb|a écrit|a ecrit|escribió|escribio|ha scritto|scrisse|escreveu|"
    r"a scris|schreef|skrev|kirjoitti|napisał\(a\)|napisał|napisała|yazdı|"
    r"ay sumulat|sumulat|đã viết|menulis|เขียนว่า|님이 작성|작성|書きました|のメッセージ|"
    r"写道|寫道|提到)\s*[:：]\s*$",
    re.IGNORECASE,
)
# Gmail in Japanese and a few other locales writes only "<date> Name <addr>:".
# No "@" in the local part: a line of "a@a@a@…" is then read once, not once per "@".
_ADDRESS_COLON = re.compile(r"<[^<>\s@]+@[^<>\s]+>\s*[:：]\s*$")
# "-----Original Message-----" in any language, and Outlook's rule of underscores.
_ORIGINAL_RULE = re.compile(r"^\s*(-{4,}\s*[^-].{0,40}?\s*-{4,}|_{10,})\s*$")
# Rules are short lines. On a long one the pattern above tries every split of its
# whitespace (time quadratic in the line's length), so longer lines are no rule.
_MAX_RULE = 300
# Outlook's reply header: "From:" then "Sent:"/"Date:" a line or two below.
_FROM = re.compile(
    r"^\s*\*?(from|von|de|da|de la|van|från|fra|od|보낸 사람|差出人|发件人|寄件者|จาก|mula kay|"
    r"người gửi|dari)\s*(?:\*\s*)?[:：]", re.IGNORECASE,
)
_SENT = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|date d'envoi|enviado|enviado el|inviato|data|"
    r"trimis|verzonden|skickat|sendt|wysłano|보낸 날짜|날짜|送信日時|日付|发送时间|發送時間|日期|"
    r"ส่ง|วันที่|ipinadala|đã gửi|ngày|dikirim|tanggal)\s*(?:\*\s*)?[:：]", re.IGNORECASE,
)
# Forwarded mail: the separator and the header lines below it go, the body stays,
# since a customer who forwards their own earlier message wrote that body.
_FORWARD_RULE = re.compile(
    r"^\s*(-{3,}\s*)?(forwarded message|original message follows|begin forwarded message|"
    r"weitergeleitete nachricht|anfang der weitergeleiteten nachricht|message transféré|"
    r"début du message réexpédié|mensaje reenviado|messaggio inoltrato|mensagem encaminhada|"
    r"mesaj redirecționat|mesaj redirectionat|전달된 메일|転送されたメッセージ|转发的邮件|"
    r"轉寄的郵件|ข้อความที่ส่งต่อ|ipinasang mensahe|thư được chuyển tiếp|pesan yang diteruskan)"
    r"\s*(?::\s*)?(?:-{3,}\s*)?$",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(r"^\s*\*?[^\s:：]{1,20}( [^\s:：]{1,12})?\s*(?:\*\s*)?[:：]\s*\S")
_SIGNATURE = re.compile(r"^--\s*$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(sent from my|sent from mail for|get outlook for|envoyé de mon|envoyé depuis|"
    r"von meinem|enviado desde mi|enviado do meu|inviato da|trimis de pe|gửi từ|dikirim dari|"
    r"ipad에서 보냄|iphone에서 보냄|iphoneから送信|ipadから送信)\b.*$",
    re.IGNORECASE,
)
# Words that belong to no language: links, addresses, references, markdown links.
# Linear: a link's text and target stop at the next "[", and a word with an "@"
# is tried only from its first character, so no run is rescanned from each of
# its positions.
_NOISE = re.compile(
    r"\[([^\[\]]*)\]\([^()\[\]\s]*\)|https?://\S+|www\.\S+|(?<!\S)[^\s@]*@\S*"
    r"|\[[0-9A-Z]{3,8}-[0-9A-Z]{3,8}\]"
)


def own_text(text: str) -> str:
    """What the customer wrote themselves, without quotes, signatures or forward headers.

    Cuts at the first reply attribution ("On … wrote:" and its translations),
    "-----Original Message-----"-style rules, an Outlook "From:/Sent:" block
    or a "-- " signature line; drops ">" lines, mobile footers and the header
    lines of a forwarded message (its body, the customer's own words, stays).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    in_forward_header = False
    for index, line in enumerate(lines):
        if _FORWARD_RULE.match(line):
            in_forward_header = True
            continue
        if in_forward_header and (not line.strip() or _HEADER_LINE.match(line)):
            continue
        in_forward_header = False
        if _ends_own_text(lines, index):
            break
        if line.lstrip().startswith(">") or _MOBILE_FOOTER.match(line):
            continue
        kept.append(line)
    return _NOISE.sub(r"\1", "\n".join(kept)).strip()


_MAX_ATTRIBUTION = 300
_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")
# How attributions begin: "On", "Am", "Le", "El", "Il", "Em", "În", "Pe", "Op",
# "Den", "W dniu", "Vào", "Pada", "Noong", "เมื่อ", or the date itself.
_OPENER = re.compile(
    r"^\s*(on|am|le|el|il|em|în|in|pe|op|den|w dniu|vào|pada|noong|เมื่อ)\b|^\s*\d",
    re.IGNORECASE,
)


def _ends_own_text(lines: list[str], index: int) -> bool:
    line = lines[index]
    if _SIGNATURE.match(line) or (len(line) <= _MAX_RULE and _ORIGINAL_RULE.match(line)):
        return True
    has_colon = ":" in line or "：" in line
    if has_colon and _FROM.match(line) and any(
        _SENT.match(nxt) for nxt in lines[index + 1 : index + 4]
    ):
        return True
    if _is_attribution(line):
        return True
    # Clients wrap a long attribution over two lines; it is cut where it
    # starts: at a line that opens like one and is no sentence of its own.
    following = lines[index + 1] if index + 1 < len(lines) else ""
    return (
        following.rstrip().endswith((":", "："))
        and bool(_OPENER.match(line))
        and not _SENTENCE_END.search(line)
        and _is_attribution(f"{line.strip()} {following.strip()}")
    )


def _is_attribution(line: str) -> bool:
    # The cheap tests first: every attribution ends with a colon and is short.
    if len(line) > _MAX_ATTRIBUTION or not line.rstrip().endswith((":", "：")):
        return False
    if not (_WROTE.search(line) or _ADDRESS_COLON.search(line)):
        return False
    return any(ch.isdigit() for ch in line) or "@" in line


# ------------------------------------------------------------------ scripts


@dataclass(frozen=True)
class ScriptCounts:
    """Letters of `text` by script; CJK characters weigh two Latin letters each."""

    hangul: int = 0
    kana: int = 0
    han: int = 0
    thai: int = 0
    other: int = 0

    @property
    def weight(self) -> int:
        return 2 * (self.hangul + self.kana + self.han) + self.thai + self.other


# A script decides when it carries at least this share of the weighted letters:
# low enough that product names in Latin letters do not outvote a Korean sentence.
SCRIPT_SHARE = 0.3
# Kana among Japanese Han+kana text is rarely below a third; a stray "の" in
# Chinese shop names is far below this.
KANA_SHARE_OF_CJK = 0.1


_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e]")
_KANA = re.compile(r"[\u3041-\u30fa\u30fc\uff66-\uff9d]")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")
# Vowel signs and tone marks count with the letters: they carry as much.
_THAI = re.compile(r"[\u0e01-\u0e3e\u0e40-\u0e4e]")
_OTHER_LETTER = re.compile(
    r"[^\W\d_\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e\u3041-\u30fa\u30fc\uff66-\uff9d"
    r"\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\u0e00-\u0e7f]"
)


def script_counts(text: str) -> ScriptCounts:
    """Count by regular expression: a per-character Python loop costs 4x as much."""
    return ScriptCounts(
        hangul=len(_HANGUL.findall(text)),
        kana=len(_KANA.findall(text)),
        han=len(_HAN.findall(text)),
        thai=len(_THAI.findall(text)),
        other=len(_OTHER_LETTER.findall(text)),
    )


def script_language(text: str) -> str | None:
    """ko, ja or th when the text's script says so; None when statistics must decide."""
    return _by_script(script_counts(text))


def _by_script(counts: ScriptCounts) -> str | None:
    total = counts.weight
    if not total:
        return None
    if 2 * counts.hangul >= SCRIPT_SHARE * total:
        return "ko"
    cjk = counts.kana + counts.han
    if counts.kana and 2 * cjk >= SCRIPT_SHARE * total and counts.kana >= KANA_SHARE_OF_CJK * cjk:
        return "ja"
    if counts.thai >= SCRIPT_SHARE * total:
        return "th"
    return None


# -------------------------------------------------------------- statistics

# Below this normalised probability the identifier is guessing (a greeting, a
# product code): then a Content-Language header, if any, decides.
MIN_CONFIDENCE = 0.1
# Languages whose probability is at least this share of the best one are all
# plausible readings: "Falsche Ware geliefert." is lb 0.46 / de 0.26, "Pesanan
# saya belum sampai" ms 0.51 / id 0.49. Close relatives stay in; a Dutch text
# (nl 0.9, de 0.05) does not become German because we have German letters.
PLAUSIBLE_SHARE = 0.5
# The start of a mail that detection reads at most: own_text cuts at the first
# quote anyway, and scripts are counted as well on 20 000 characters as on more.
_MAX_DETECTION_INPUT = 20_000
# Enough letters to read a language from; shorter bodies borrow the subject.
_FEW_LETTERS = 20
# A few sentences say which language it is; the identifier walks every byte in
# Python, so a long letter is read only this far.
_MAX_CHARS = 400

_identifier: Any = None
_identifier_lock = threading.Lock()


def _py3langid() -> Any:
    """The py3langid identifier, loaded once on first use (mapped from a cache, see
    `langid_model`: the first start unpacks it, about a second)."""
    global _identifier
    with _identifier_lock:
        if _identifier is None:
            # Imported here: NumPy and the model cost nothing to a cycle without mail.
            from triaged.core.langid_model import load_identifier

            _identifier = load_identifier()
        return _identifier


@dataclass(frozen=True)
class Guess:
    """A statistical reading of a text: languages best first, with probabilities."""

    ranked: tuple[tuple[str, float], ...]

    @property
    def confident(self) -> bool:
        return bool(self.ranked) and self.ranked[0][1] >= MIN_CONFIDENCE

    def plausible(self) -> tuple[str, ...]:
        """Languages close enough to the best one to be the right reading, best first."""
        if not self.ranked:
            return ()
        floor = self.ranked[0][1] * PLAUSIBLE_SHARE
        return tuple(lang for lang, p in self.ranked if p >= floor)


def guess(text: str) -> Guess:
    """py3langid's ranking of `text` (ISO 639-1/3 codes); empty when it has no letters."""
    if not any(ch.isalpha() for ch in text):
        return Guess(())
    ranked = _py3langid().rank(text[:_MAX_CHARS])
    return Guess(tuple((str(lang), float(p)) for lang, p in ranked[:10]))


# ----------------------------------------------------------------- decision

# Codes the identifiers use for a language whose template folder may be named
# differently: Filipino is the standard form of Tagalog, "in"/"iw" are old codes.
_ALIASES = {"tl": ("tl", "fil"), "fil": ("fil", "tl"), "in": ("id",), "iw": ("he",)}


def available_tag(language: str, available: Iterable[str]) -> str | None:
    """The template folder for `language`: exact (any case), an alias, or the same base.

    "en-US" finds "en"; "pt" finds "pt-BR" when that is the only Portuguese
    folder; "tl" finds "fil". None when no folder fits.
    """
    tags = sorted(available)
    by_lower = {tag.lower(): tag for tag in tags}
    wanted = language.strip().lower().replace("_", "-")
    if not wanted:
        return None
    if wanted in by_lower:
        return by_lower[wanted]
    base = wanted.split("-")[0]
    for code in _ALIASES.get(base, (base,)):
        if code in by_lower:
            return by_lower[code]
        for tag in tags:
            if tag.lower().split("-")[0] == code:
                return tag
    return None


def header_languages(value: str) -> tuple[str, ...]:
    """The tags of a Content-Language header ("de-DE, en" → ("de-DE", "en"))."""
    return tuple(tag.strip() for tag in re.split(r"[,;\s]+", value) if tag.strip())


_SUBJECT_PREFIX = re.compile(r"^\s*((re|aw|fw|fwd|wg|tr|rv|sv|vs|r|res|enc|odp)\s*[:：]\s*)+",
                             re.IGNORECASE)


def detection_text(mail: ParsedMail) -> tuple[str, ScriptCounts]:
    """The customer's own words (the subject joins in when they are few), with their scripts."""
    # The customer's own words come first, and a few sentences say the language.
    text = own_text(mail.text[:_MAX_DETECTION_INPUT])
    counts = script_counts(text)
    if counts.weight < _FEW_LETTERS:
        subject = _NOISE.sub(r"\1", _SUBJECT_PREFIX.sub("", mail.subject)).strip()
        text = f"{subject}\n{text}".strip()
        counts = script_counts(text)
    return text, counts


def detect_language(mail: ParsedMail, *, default: str, available: frozenset[str]) -> str:
    """The language to answer `mail` in: a tag from `available`, or `default`.

    Script first (Hangul, kana, Thai decide alone); then the statistical
    reading of the customer's own text. The `Content-Language` header wins
    when it names an available language and the text does not contradict it
    (the text is too short to say, or the header's language is a plausible
    reading of it); otherwise the most likely available reading, else `default`.
    """
    text, counts = detection_text(mail)
    by_script = _by_script(counts)
    if by_script is not None:
        return available_tag(by_script, available) or default
    declared = (available_tag(tag, available) for tag in header_languages(mail.content_language))
    from_header = next((tag for tag in declared if tag), None)
    reading = guess(text)
    if not reading.confident:
        return from_header or default
    plausible = [tag for tag in (available_tag(lang, available) for lang in reading.plausible())
                 if tag]
    if from_header in plausible:
        return from_header
    return plausible[0] if plausible else default
