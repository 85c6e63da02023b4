"""Per-letter return addresses: a bounce counts only when it cites a letter we sent (pure).

Every letter leaves with its own SMTP envelope sender (VERP),

    support+b-<letter id, base 36>-<MAC>@acme.example

so a delivery report comes back *to* that address: the receiving server puts
it in Delivered-To / X-Original-To, and the reporting MTA in To. The MAC
(60 bits of HMAC-SHA256, base32, lower case so it survives servers that fold
addresses) is keyed with a key derived from `approval.secret_file`'s secret,
so nobody can name a letter they were not sent: a stranger who writes a
"delivery report" to our mailbox cannot cite the letters we sent our
managers or staff, and the return address of a letter someone did receive
names only that letter (and so only that person's own address).

Without `approval.secret_file` there is no key: letters keep the mailbox
address as envelope sender, and a report counts only by the exact
Message-ID of our letter in its returned headers, for the very recipient the
letter went to (our Message-IDs carry 64 random bits, seen only by that
recipient).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable

from triaged.core.base36 import base36
from triaged.domain.mailbox_key import mailbox_key

_MAC_CHARS = 12  # base32 of 60 bits
_ADDRESS = re.compile(rf"([A-Za-z0-9._%-]+)\+b-([0-9a-z]{{1,13}})-([a-z2-7]{{{_MAC_CHARS}}})"
                      r"@([A-Za-z0-9.-]+)", re.IGNORECASE)


def return_key(secret: str) -> bytes:
    """The return-address key, derived so it never equals the reply-token key."""
    return hmac.new(secret.encode("utf-8"), b"triaged-return-path-v1", hashlib.sha256).digest()


def _mac(key: bytes, letter_id: int) -> str:
    digest = hmac.new(key, f"letter|{letter_id}".encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest[:8]).decode("ascii").lower()[:_MAC_CHARS]


def return_address(mailbox_address: str, letter_id: int, key: bytes) -> str:
    """The envelope sender of letter `letter_id`: `local+b-<id>-<mac>@domain`."""
    local, _, domain = mailbox_address.rpartition("@")
    tag = f"b-{base36(letter_id)}-{_mac(key, letter_id)}"
    return f"{local.split('+', 1)[0]}+{tag}@{domain}"


def cited_letters(addresses: Iterable[str], own_addresses: Iterable[str],
                  key: bytes | None) -> list[int]:
    """Ids of our letters whose genuine return address is among `addresses`.

    Only a return address on one of our own mailboxes counts, and only with
    the right MAC; anything else (no key, a forged or altered tag) cites nothing.
    """
    if key is None:
        return []
    own = {mailbox_key(address) for address in own_addresses}
    found: list[int] = []
    for text in addresses:
        for local, number, mac, domain in _ADDRESS.findall(text):
            if mailbox_key(f"{local}@{domain}") not in own:
                continue
            letter_id = int(number.lower(), 36)
            if hmac.compare_digest(_mac(key, letter_id), mac.lower()) and letter_id not in found:
                found.append(letter_id)
    return found
