"""What someone actually wrote in a reply: no quoted history, signature or phone footer (pure).

Mail clients put the letter being answered below the answer in their own
ways, and the reply's text (HTML-only replies arrive here already turned into
text, blockquotes as "> " lines) is cut at the first of:

- a Gmail / Apple Mail / Thunderbird attribution line, "On <date>, <who> wrote:"
  (Gmail wraps it over two lines), in the languages our businesses use;
- Outlook's header block ("From: …" followed by "Sent:"/"Date:"), its
  "-----Original Message-----", or the underscore rule Outlook Web draws;
- the first line quoted with ">" once the writer's own text has started
  (top-posting); quoted lines interleaved with answers are dropped;
- a signature delimiter ("-- ") or a mobile footer ("Sent from my iPhone").

A short sign-off at the very end is dropped as well, since the letters we
build add their own greeting and signature: a closing paragraph ("Thanks,\\nDana"),
a closing with the name on its line ("Thanks, Ana"), a closing and a name
right under the text, a name after a dash ("-- Ana", "— Ana"), or a first
name alone on the last line ("Ana": one capitalised word, no full stop).

Why our own reader and not mail-parser-reply: on the 23 reply shapes of the
tests (`bench/reply_parsers.py`) this one keeps the writer's text and drops
the rest in 23 cases against 18; mail-parser-reply misses Thai, Tagalog and
Romanian attribution lines and Thunderbird replies written below the quote.
"""

from __future__ import annotations

import re

_ATTRIBUTION_START = re.compile(
    r"^\s*(on|am|le|el|il|op|em|den|pe|在|於)\b.*", re.IGNORECASE)
# Attribution lines end in one of these words (and perhaps a colon)...
_ENDING_WORD = re.compile(
    r"(wrote|a écrit|escribió|ha scritto|schreef|escreveu|skrev|a scris|写道|寫道|เขียนว่า)"
    r"\s*(?::\s*)?$", re.IGNORECASE)
# ...or have one of these words anywhere before their closing colon.
_INNER_WORD = re.compile(r"schrieb|のメッセージ|님이 작성|が書きました|sumulat si", re.IGNORECASE)
# Gmail in Japanese (and a few other locales) writes only "<date> <name> <address>:".
# No "@" in the local part: a line of "a@a@a@…" is then read once, not once per "@".
_ADDRESS_COLON = re.compile(r"<[^<>\s@]+@[^<>\s]+>\)?\s*[:：]\s*$")
# No attribution is longer, even wrapped over two lines; longer lines are text.
_MAX_ATTRIBUTION = 1000
_OUTLOOK_FROM = re.compile(
    r"^\s*\**(from|von|de|de la|da|van|от|差出人|보낸 사람|发件人|寄件者|จาก|mula kay)"
    r"\s*(?:\*+\s*)?:",
    re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(
    r"^\s*\**(sent|date|gesendet|datum|envoyé|date|enviado|fecha|inviato|verzonden|送信日時|"
    r"보낸 날짜|发送时间|trimis|ส่ง|ipinadala|to|an|à|para|a|aan|către|宛先|받는 사람|ถึง|"
    r"subject|betreff|objet|asunto|oggetto|subiect|件名|제목|เรื่อง|paksa)\s*(?:\*+\s*)?:",
    re.IGNORECASE)
_SEPARATORS = re.compile(
    r"^\s*(-{3,}\s*(original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|messaggio originale|forwarded message)\s*-{3,}|_{10,}|(\*\s*){2}\*)\s*$",
    re.IGNORECASE)
_SIGNATURE = re.compile(r"^(--|-- |__)\s*$")
_MOBILE = re.compile(
    r"^\s*(sent from my|sent from (outlook|mail|yahoo)|get outlook for|sent via|"
    r"von meinem .* gesendet|envoyé de mon|enviado desde mi|inviato da|"
    r"outlook for (ios|android) (から送信|에서 보냄))",
    re.IGNORECASE)
_CLOSING = re.compile(
    r"^\s*(thanks|thank you|thx|cheers|best|regards|kind regards|best regards|br|"
    r"many thanks|danke|merci|gracias|grazie|mulțumesc|salutations|cordialement|"
    r"mit freundlichen grüßen|viele grüße|saludos|un saludo)\b[\s,.!]*$",
    re.IGNORECASE)


def _attribution_end(line: str) -> bool:
    """Whether `line` ends as an attribution does ("… wrote:", "… schrieb …:")."""
    if len(line) > _MAX_ATTRIBUTION:
        return False
    if _ENDING_WORD.search(line):
        return True
    stripped = line.rstrip()
    return stripped.endswith(":") and _INNER_WORD.search(stripped) is not None


def _is_attribution(lines: list[str], i: int) -> bool:
    line = lines[i]
    if len(line) > _MAX_ATTRIBUTION:
        return False
    if _attribution_end(line) and _ATTRIBUTION_START.match(line):
        return True
    if _ATTRIBUTION_START.match(line) and i + 1 < len(lines):
        return _attribution_end(line + " " + lines[i + 1])
    if _ADDRESS_COLON.search(line):
        # A sentence may end in an address and a colon too; an attribution has its date.
        return any(ch.isdigit() for ch in line.split("<")[0])
    return _attribution_end(line) and line.rstrip().endswith(":")


def _is_outlook_header(lines: list[str], i: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[i]):
        return False
    following = [line for line in lines[i + 1:i + 4] if line.strip()]
    return any(_OUTLOOK_NEXT.match(line) for line in following)


def _cut_history(lines: list[str]) -> list[str]:
    kept: list[str] = []
    started = False  # whether a kept line has words: asking `kept` each time is quadratic
    skip = -1
    for i, line in enumerate(lines):
        if i <= skip:
            continue
        stripped = line.strip()
        if not stripped:
            kept.append(line)  # a blank line ends nothing: no pattern needs to look at it
            continue
        if stripped.startswith(">"):
            continue
        # Cheap first looks spare most lines the patterns: rules and signatures
        # begin with "-", "_" or "*", an Outlook header has a colon.
        rule = stripped[0] in "-_*"
        if (rule and _SEPARATORS.match(line)) or (":" in line and _is_outlook_header(lines, i)):
            break
        if _is_attribution(lines, i):
            if started:
                break
            # Bottom-posting (Thunderbird's default): the quote comes first, and the
            # writer's text below it. A wrapped attribution takes the next line too.
            whole = _attribution_end(line) or _ADDRESS_COLON.search(line)
            skip = i if whole else i + 1
            continue
        if (rule and _SIGNATURE.match(line)) or _MOBILE.match(line):
            break
        kept.append(line)
        started = True
    return kept


_CLOSING_NAMED = re.compile(
    _CLOSING.pattern.replace(r")\b[\s,.!]*$", r")\b[\s,.!]+(?P<name>[^,]+)$"), re.IGNORECASE)
_DASHED = re.compile(r"^\s*(-{1,2}|[–—~])\s*(?P<name>\S.*)$")
_NAME_MARKS = frozenset("'’-.")


def _is_name(text: str, most: int = 3) -> bool:
    """1 to `most` capitalised words of letters (initials allowed): a name, not a sentence."""
    words = text.strip().rstrip(",").split()
    return 0 < len(words) <= most and all(
        len(w) <= 20 and w[0].isupper() and all(c.isalpha() or c in _NAME_MARKS for c in w)
        and not (len(w.rstrip(".")) > 1 and w.isupper())  # "OK", "APPROVE": words, not names
        and not (w.endswith(".") and len(w) > 3)  # a full stop ends a sentence, "B." is fine
        for w in words)


def _sign_off_lines(lines: list[str]) -> int:
    """How many of the last lines (the text's last is non-blank) are a sign-off."""
    last = lines[-1]
    if _CLOSING.match(last):
        return 1
    named = _CLOSING_NAMED.match(last) or _DASHED.match(last)
    if named and _is_name(named.group("name")):
        return 1
    if _is_name(last):
        above = len(lines) - 2
        if above >= 0 and _CLOSING.match(lines[above]):
            return 2
        if _is_name(last, most=1):
            return 1
    return 0


def _drop_closing(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    # Right under the text (no blank line): "…today.\nThanks, Ana" or "…today.\nAna".
    cut = _sign_off_lines(lines) if len(lines) > 1 else 0
    if cut and any(line.strip() for line in lines[:-cut]):
        lines = lines[:-cut]
        while lines and not lines[-1].strip():
            lines.pop()
    # The last paragraph, if it is a closing such as "Thanks,\nDana".
    start = len(lines)
    while start > 0 and lines[start - 1].strip():
        start -= 1
    tail = lines[start:]
    if 0 < len(tail) <= 3 and start > 0 and _CLOSING.match(tail[0]):
        return lines[:start]
    return lines


def fresh_lines(text: str) -> list[str]:
    """The lines the writer typed, closing included (an edited letter keeps its own)."""
    return _cut_history(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))


def new_text(text: str) -> str:
    """The part of a reply its writer typed, trimmed; "" when there is none."""
    kept = _drop_closing(fresh_lines(text))
    return "\n".join(line.rstrip() for line in kept).strip("\n").strip()


# A short answer to the satisfaction check that says "yes, settled", in the
# languages we write in. Anything longer, or with a "but", is read as "not settled".
_YES = frozenset({
    "yes", "yep", "yeah", "ok", "okay", "settled", "fine", "ja", "jawohl", "sí", "si", "oui",
    "da", "oo", "opo", "はい", "네", "예", "ใช่", "ใช่ครับ", "ใช่ค่ะ", "thanks", "danke",
    "merci", "gracias", "mulțumesc", "salamat",
})
_BUT = re.compile(r"\b(but|aber|mais|pero|dar|pero|ngunit|pero|nhưng|しかし|でも|하지만|แต่)\b",
                  re.IGNORECASE)
# Words split on spaces and punctuation only: Thai and Japanese marks are not `\w`.
_WORD = re.compile(r"[^\s,.!?;:、。！？()\"“”„«»]+")


def says_settled(text: str) -> bool:
    """Whether a reply to the satisfaction check is a plain "yes, it is settled"."""
    typed = new_text(text)
    words = _WORD.findall(typed.lower())
    if not words or len(words) > 6 or _BUT.search(typed):
        return False
    return words[0] in _YES
