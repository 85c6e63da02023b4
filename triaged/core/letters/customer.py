"""One function per letter kind: what goes into it, and to whom (pure)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_location

from triaged.core.calendar import promised_instant
from triaged.core.letters.excerpt import subject_excerpt
from triaged.core.letters.render import Renderer
from triaged.domain.records import Address, Letter, LetterKind

# Reply and forward prefixes that mail clients stack up, in the languages our
# customers write in; stripped so our subject reads "Re: <their subject>" once.
_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|antw|wg|fw|fwd|tr|rv|r|enc|odp|res|回复|回覆|答复|転送|답장|전달)\s*"
    r"(\[\d+\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\s*\[[0-9A-Za-z]{3,8}-[0-9A-Za-z]{3,8}\]\s*")


def bare_subject(subject: str) -> str:
    """The customer's subject as our letters quote it: without Re:/Fwd: prefixes and
    old reference tokens, and cut to `excerpt.SUBJECT_CHARS` with "…" when longer."""
    return subject_excerpt(" ".join(_TOKEN.sub(" ", _PREFIX.sub("", subject)).split()))


@dataclass(frozen=True)
class HoldingFacts:
    """What the holding reply tells the customer."""

    business_name: str
    customer: Address
    reference: str
    subject: str
    received_at: datetime
    due_at: datetime
    timezone: str
    language: str
    in_reply_to: str
    references: tuple[str, ...]
    # The config's category and priority names, for templates that want them.
    category: str = ""
    priority: str = "normal"


def local_date_words(at: datetime, timezone: str, language: str) -> tuple[str, str]:
    """(date with weekday, time) in the business's zone, written the customer's way.

    Babel's full date and short time, except where that is not how a business
    writing in the language puts it (see `_LOCAL_WORDS`).
    """
    local = at.astimezone(ZoneInfo(timezone))
    special = _LOCAL_WORDS.get(language.split("-")[0].lower())
    if special is not None:
        return special(local)
    return _babel_words(local.date(), local.hour, local.minute, language.replace("-", "_"))


@functools.lru_cache(maxsize=1024)
def _babel_words(day: date, hour: int, minute: int, locale: str) -> tuple[str, str]:
    # Cached: every holding reply of a day names one of a few promised dates, and
    # Babel works each wording out afresh. The short time shows no zone.
    return (format_date(day, format="full", locale=locale),
            format_time(time(hour, minute), format="short", locale=locale))


def promised_words(due: datetime, timezone: str, language: str) -> tuple[str, str]:
    """(date with weekday, time with the zone named) of a promise, as a person writes it.

    The instant is `calendar.promised_instant` (rounded up to the whole hour); the
    zone is named in `language` ("17:00 (Romania Time)", "17:00（ルーマニア時間）"),
    since the customer may live in another one. German puts "Uhr" before the zone.
    """
    shown = promised_instant(due, timezone)
    day, time = local_date_words(shown, timezone, language)
    zone = zone_words(timezone, language)
    base = language.split("-")[0].lower()
    if base not in _LOCAL_WORDS and _twelve_hour(language):
        # On the hour a person writes "5 PM", not CLDR's "5:00 PM".
        time = _hour_words(shown.hour, language)
    if base == "de":
        return day, f"{time} Uhr ({zone})"
    if base in ("ja", "zh"):
        return day, f"{time}（{zone}）"
    return day, f"{time} ({zone})"


@functools.lru_cache(maxsize=1024)
def _hour_words(hour: int, language: str) -> str:
    return format_time(time(hour), "h a", locale=language.replace("-", "_"))


@functools.lru_cache(maxsize=256)
def _twelve_hour(language: str) -> bool:
    try:
        pattern = Locale.parse(language, sep="-").time_formats["short"].pattern
    except (ValueError, UnknownLocaleError):
        return False
    return "a" in pattern.replace("'", "")


@functools.lru_cache(maxsize=256)
def zone_words(timezone: str, language: str) -> str:
    """The business's time zone named in `language` (Babel's city or country name).

    Cached: every letter of a business names the same zone in one of a few languages.
    """
    try:
        words = str(get_timezone_location(ZoneInfo(timezone), locale=language.replace("-", "_")))
    except (ValueError, LookupError, UnknownLocaleError):
        return timezone
    if language.split("-")[0].lower() == "de" and words.endswith(" (Ortszeit)"):
        # CLDR's "Rumänien (Ortszeit)" would nest parentheses in a letter.
        return f"Ortszeit {words.removesuffix(' (Ortszeit)')}"
    return words


def language_name(tag: str, in_language: str) -> str:
    """The name of the language `tag` in `in_language` ("ko" in "ro" → "coreeană"); else `tag`."""
    try:
        name = Locale.parse(tag, sep="-").get_language_name(in_language.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return tag
    return str(name) if name else tag


def _korean(local: datetime) -> tuple[str, str]:
    # CLDR's short time is "PM 5:00"; a Korean letter says "오후 5시" (30분).
    minutes = f" {local.minute}분" if local.minute else ""
    hour = format_time(local.timetz(), "aaaa h시", locale="ko")
    return format_date(local.date(), format="full", locale="ko"), f"{hour}{minutes}"


def _thai(local: datetime) -> tuple[str, str]:
    # Babel has only the Gregorian calendar and writes "ค.ศ. 2026". Thai
    # businesses, like the government and banks, date letters in the Buddhist
    # era (พ.ศ. = Gregorian + 543), which is what a Thai customer expects to
    # read; times are written "17:00 น.".
    day = format_date(local.date(), "EEEEที่ d MMMM", locale="th")
    return f"{day} พ.ศ. {local.year + 543}", f"{local:%H:%M} น."


_LOCAL_WORDS: dict[str, Callable[[datetime], tuple[str, str]]] = {
    "ko": _korean,
    "th": _thai,
}


@dataclass(frozen=True)
class ExtensionFacts:
    """What the customer is told when a manager moves the promised date."""

    business_name: str
    customer: Address
    reference: str
    subject: str
    old_due_at: datetime
    new_due_at: datetime
    timezone: str
    language: str
    in_reply_to: str
    references: tuple[str, ...]


def extension_letter(facts: ExtensionFacts, renderer: Renderer) -> Letter:
    """The promised date moved: an apology and the new date, in the customer's language.

    Threaded into the customer's conversation like the holding reply. It is
    not an answer to an automatic message, but it is sent without a person
    writing it, so it is marked auto-generated (RFC 3834): the customer's
    auto-responder must not answer it.
    """
    language = renderer.pick_language(facts.language, LetterKind.EXTENSION)
    old_date, old_time = promised_words(facts.old_due_at, facts.timezone, language)
    new_date, new_time = promised_words(facts.new_due_at, facts.timezone, language)
    dates = {"old_date": old_date, "old_time": old_time,
             "new_date": new_date, "new_time": new_time}
    letter = _to_customer(LetterKind.EXTENSION, facts, language, dates, facts.references,
                          renderer)
    return replace(letter, auto_submitted="auto-generated")


def holding_letter(facts: HoldingFacts, renderer: Renderer) -> Letter:
    """The instant acknowledgement: thanks, apology, reference, promised date, next steps."""
    language = renderer.pick_language(facts.language, LetterKind.HOLDING)
    due_date, due_time = promised_words(facts.due_at, facts.timezone, language)
    promise = {"promised_date": due_date, "promised_time": due_time,
               "category": facts.category, "priority": facts.priority}
    references = tuple(facts.references) + ((facts.in_reply_to,) if facts.in_reply_to else ())
    return _to_customer(LetterKind.HOLDING, facts, language, promise, references, renderer)


def _to_customer(
    kind: LetterKind, facts: HoldingFacts | ExtensionFacts, language: str,
    context: Mapping[str, str], references: Sequence[str], renderer: Renderer,
) -> Letter:
    """`kind` rendered with what every letter to the customer names, threaded under
    `references` (each once, in order)."""
    parts = renderer.render(language, kind, {
        "business_name": facts.business_name,
        "customer_name": subject_excerpt(facts.customer.name),
        "customer_email": facts.customer.email,
        "reference": facts.reference,
        "subject": bare_subject(facts.subject),
        **context,
    })
    return Letter(kind=kind, to=facts.customer, subject=parts.subject, text=parts.text,
                  html=parts.html, language=language, in_reply_to=facts.in_reply_to,
                  references=tuple(dict.fromkeys(references)))
