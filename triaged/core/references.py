"""Complaint references such as `K7M-Q3X9`: short, random, and safe to read over the phone.

A reference is six random symbols of Crockford's base32 alphabet (digits and upper-case
letters without I, L, O and U, so nothing looks or sounds like something else) and one
check symbol, written `XXX-XXXX`. In subjects it stands in
square brackets: `[K7M-Q3X9]`.

The check symbol is Luhn mod N over the 32 symbols. It catches every single wrong
symbol and every swap of two neighbours except one: `0` and `Z` (the values 0 and
N-1, like `09`/`90` in the decimal Luhn check) swapped undetected. Anything typed
wrongly in any other way passes by chance with probability 1/32.

Six random symbols give 32**6 (about 1.07e9) references: unguessable enough for
customers, but the store must still treat a clash with an existing complaint as
"draw again" (about one clash in 100 000 new complaints once 10 000 exist).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_BASE = len(ALPHABET)
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_RANDOM_LENGTH = 6
_GROUP = 3

# What a person reading a reference aloud or typing it may produce instead of the
# real symbol (Crockford's decoding rules): letters O, I and L for digits 0, 1, 1.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.]+")
_CANONICAL = re.compile(rf"[{ALPHABET}]{{{_GROUP}}}-[{ALPHABET}]{{{_RANDOM_LENGTH + 1 - _GROUP}}}")
_BRACKETED = re.compile(r"\[\s*([0-9A-Za-z]{3}[\s\-]?[0-9A-Za-z]{4})\s*\]")


def new_reference(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """A fresh reference in canonical form, e.g. `K7M-Q3X9`.

    `randbelow` is the source of randomness (the `secrets` module unless a test
    passes its own); the caller makes sure the reference is not in use yet.
    """
    body = "".join(ALPHABET[randbelow(_BASE)] for _ in range(_RANDOM_LENGTH))
    return _format(body + _check_symbol(body))


def is_valid(ref: str) -> bool:
    """True when `ref` is a reference in canonical form whose check symbol verifies."""
    return _CANONICAL.fullmatch(ref) is not None and _verifies(ref.replace("-", ""))


def normalize(text: str) -> str | None:
    """The canonical reference a person meant by `text`, or None when it cannot be one.

    Accepts what people do when they type a reference they heard or read: lower case,
    spaces or a missing or misplaced hyphen, surrounding brackets, O for 0, I or L for 1.
    Returns None unless seven symbols remain and the check symbol verifies.
    """
    symbols = _SEPARATORS.sub("", text.strip().strip("[]")).upper().translate(_LOOKALIKES)
    if len(symbols) != _RANDOM_LENGTH + 1 or any(s not in _VALUE for s in symbols):
        return None
    return _format(symbols) if _verifies(symbols) else None


def likely_meant(text: str) -> list[str]:
    """The valid references one slip away from `text` (seven symbols whose check fails):
    one symbol changed, or two neighbours swapped. A handful at most; the caller keeps
    those that exist, which is what a person who mistyped one meant."""
    symbols = _SEPARATORS.sub("", text.strip().strip("[]")).upper().translate(_LOOKALIKES)
    if len(symbols) != _RANDOM_LENGTH + 1 or any(s not in _VALUE for s in symbols):
        return []
    found: dict[str, None] = {}
    for i in range(len(symbols)):
        for s in ALPHABET:
            candidate = symbols[:i] + s + symbols[i + 1:]
            if s != symbols[i] and _verifies(candidate):
                found[_format(candidate)] = None
        if i + 1 < len(symbols) and symbols[i] != symbols[i + 1]:
            swapped = symbols[:i] + symbols[i + 1] + symbols[i] + symbols[i + 2:]
            if _verifies(swapped):
                found[_format(swapped)] = None
    return list(found)


def find_in_text(text: str) -> list[str]:
    """References in square brackets in `text` (a subject), canonical, first seen first.

    Tokens are read as `normalize` reads them, so `[k7m-q3x9]` counts; a bracketed
    token whose check symbol fails is not a reference and is left out.
    """
    found: list[str] = []
    for match in _BRACKETED.finditer(text):
        ref = normalize(match.group(1))
        if ref is not None and ref not in found:
            found.append(ref)
    return found


def _format(symbols: str) -> str:
    return f"{symbols[:_GROUP]}-{symbols[_GROUP:]}"


def _check_symbol(body: str) -> str:
    """The symbol that makes `body` + symbol verify (Luhn mod N)."""
    # The check symbol will sit rightmost, so the body's last symbol is doubled.
    total = _luhn_sum(body, double_rightmost=True)
    return ALPHABET[-total % _BASE]


def _verifies(symbols: str) -> bool:
    return _luhn_sum(symbols, double_rightmost=False) % _BASE == 0


def _luhn_sum(symbols: str, *, double_rightmost: bool) -> int:
    """Sum of the symbols' values from the right, every second one doubled.

    A doubled value of N or more is folded back as its base-N digit sum, which keeps
    the doubling a permutation of 0..N-1: that is why single errors never cancel.
    """
    total = 0
    double = double_rightmost
    for symbol in reversed(symbols):
        value = _VALUE[symbol] * (2 if double else 1)
        total += value // _BASE + value % _BASE
        double = not double
    return total
