"""Is the approval key strong enough to sign tokens that release letters to customers?

Approval tokens are HMAC-SHA256 (`replies.tokens`), so the key should hold at
least 256 bits: anyone who guesses it can approve any final letter. The key is
text in a file, and how much each character is worth depends on how it was
made, so the estimate goes by the smallest usual alphabet the text fits:
hexadecimal (`openssl rand -hex 32`: 64 characters, 4 bits each), base64
(`head -c 32 /dev/urandom | base64`, `secrets.token_urlsafe(32)`: 43+
characters, 6 bits each), anything else 8 bits a byte at most. A key made of
a few characters repeated is weak whatever its length.
"""

from __future__ import annotations

import re

MIN_BITS = 256
MIN_DISTINCT = 8

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+=*$")
GENERATE = "openssl rand -hex 32"


def estimated_bits(key: str) -> int:
    """Bits of key material `key` can hold at most, by its alphabet (see the module)."""
    text = key.strip()
    if _HEX.match(text):
        return 4 * len(text)
    if _BASE64.match(text):
        return 6 * len(text.rstrip("="))
    return 8 * len(text.encode("utf-8"))


def weakness(key: str) -> str | None:
    """Why `key` is too weak to sign approval tokens, or None when it is strong enough."""
    text = key.strip()
    distinct = len(set(text))
    if distinct < MIN_DISTINCT:
        return (f"the key uses only {distinct} different characters; make a random one "
                f"with `{GENERATE}`")
    bits = estimated_bits(text)
    if bits < MIN_BITS:
        return (f"the key holds at most {bits} bits, {MIN_BITS} are needed "
                f"({len(text)} characters); make a random one with `{GENERATE}`")
    return None
