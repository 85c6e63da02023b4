"""Whether a text is exactly one mailbox we may write to (pure).

Every address triaged writes a letter to passes `is_one_mailbox`: one
`local@domain`, nothing that a header or an SMTP command could read as a
second recipient (a comma, a semicolon, angle brackets, quotes, a second `@`,
white space or control characters), and no longer than an SMTP path may be.
Non-ASCII letters are allowed (RFC 6531 addresses and internationalised
domains are written as UTF-8).
"""

from __future__ import annotations

import re

# RFC 5321 §4.5.3.1: a path holds at most 256 octets with its angle brackets,
# and a local part at most 64.
MAX_ADDRESS = 254
MAX_LOCAL = 64

# Characters that separate, quote or comment addresses in a header: inside a
# bare address they can only be there to smuggle something else in.
_SPECIALS = frozenset(',;:<>()[]"\\@')
_LABEL = re.compile(r"^[^\W_](?:[\w-]*[^\W_])?$")


def is_one_mailbox(address: str) -> bool:
    """True when `address` is a single bare `local@domain`."""
    if not address or len(address) > MAX_ADDRESS or not address.isprintable():
        return False
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or len(local) > MAX_LOCAL:
        return False
    if any(ch.isspace() or ch in _SPECIALS for ch in local):
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    return all(_LABEL.match(label) for label in domain.split("."))


def why_not_one_mailbox(address: str) -> str:
    """A short reason for logs and refusals, naming the address (cut when long)."""
    shown = address if len(address) <= 80 else f"{address[:80]}…"
    return f"{shown!r} is not exactly one mailbox"
