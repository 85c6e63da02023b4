"""Whole numbers as base-36 digits (0-9, a-z): short, case-folding-safe fields in addresses.

Reply tokens and return addresses both carry numbers this way; `int(text, 36)`
reads them back.
"""

from __future__ import annotations

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    """`number` (zero or more) in lower-case base-36 digits."""
    if number < 0:
        raise ValueError("a base-36 field is never negative")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = DIGITS[rest] + digits
        if number == 0:
            return digits
