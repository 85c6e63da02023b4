"""Reply tokens: short HMACs that let one person answer one letter, once (pure).

A token binds a *purpose* (what the reply may do: "approve", "draft",
"escalation"…), a complaint id, a draft version (0 when the purpose has none),
the address the letter was sent to, and an expiry. It is written

    approve-2s-1-tkf8kw-ytq3c4vhk7d2mzpa5gwe
    ^purpose ^id ^ver ^expiry ^MAC (96 bits, base32)

in lower-case letters, digits and hyphens only, so that it survives a
plus-address local part (RFC 5321 allows 64 characters; a token is about 45),
a Message-ID and a subject line, and mail systems that fold addresses to
lower case. The address is not written in the token: it is part of the MAC,
so a token copied to anyone else does not verify for them.

The MAC is HMAC-SHA256 over all five fields with `approval.secret_file`'s
secret, compared with `hmac.compare_digest`. Ninety-six bits are plenty: each
guess costs an attacker one email, and every wrong one is logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from triaged.core.base36 import base36

MAC_BYTES = 12
_MAC_CHARS = 20  # base32 of 12 bytes, padding dropped
PURPOSE = re.compile(r"[a-z]{1,12}")
# What a token looks like anywhere in a header; `parse` checks the rest.
TOKEN_PATTERN = (
    rf"[a-z]{{1,12}}-[0-9a-z]{{1,13}}-[0-9a-z]{{1,13}}-[0-9a-z]{{1,13}}-[a-z2-7]{{{_MAC_CHARS}}}"
)
_WHOLE = re.compile(rf"^{TOKEN_PATTERN}$")


@dataclass(frozen=True)
class TokenClaim:
    """What a token says about itself; nothing here is trusted until `verify`."""

    purpose: str
    complaint_id: int
    version: int
    expires_at: datetime
    mac: str
    text: str

    @property
    def digest(self) -> str:
        """A fingerprint for the used-token table (the token itself is never stored)."""
        return hashlib.sha256(self.text.encode("ascii")).hexdigest()


def _mac(secret: str, purpose: str, complaint_id: int, version: int, recipient: str,
         expiry: int) -> str:
    message = f"triaged-token-v1|{purpose}|{complaint_id}|{version}|{recipient.lower()}|{expiry}"
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest[:MAC_BYTES]).decode("ascii").rstrip("=").lower()


def make_token(
    secret: str,
    *,
    purpose: str,
    complaint_id: int,
    version: int,
    recipient: str,
    expires_at: datetime,
) -> str:
    """A token for `recipient` to act on `complaint_id` (draft `version`) until `expires_at`."""
    if not PURPOSE.fullmatch(purpose):
        raise ValueError(f"a token purpose is 1-12 lower-case letters, not {purpose!r}")
    if not secret:
        raise ValueError("a token needs a non-empty secret")
    expiry = int(expires_at.timestamp())
    mac = _mac(secret, purpose, complaint_id, version, recipient, expiry)
    return "-".join((purpose, base36(complaint_id), base36(version), base36(expiry), mac))


def parse_token(text: str) -> TokenClaim | None:
    """Read a token's fields (any case); None when `text` is not shaped like one."""
    text = text.strip().lower()
    if not _WHOLE.match(text):
        return None
    purpose, complaint, version, expiry, mac = text.split("-")
    return TokenClaim(
        purpose=purpose,
        complaint_id=int(complaint, 36),
        version=int(version, 36),
        expires_at=datetime.fromtimestamp(int(expiry, 36), UTC),
        mac=mac,
        text=text,
    )


def verify(claim: TokenClaim, secret: str, recipient: str) -> bool:
    """Whether `claim` was made with `secret` for `recipient` (constant-time compare).

    Expiry is not checked here: the caller says *why* a token is refused.
    """
    if not secret:
        return False
    expected = _mac(secret, claim.purpose, claim.complaint_id, claim.version, recipient,
                    int(claim.expires_at.timestamp()))
    return hmac.compare_digest(expected.encode("ascii"), claim.mac.encode("ascii"))


def bound_recipient(claim: TokenClaim, secret: str, candidates: list[str]) -> str | None:
    """Which of `candidates` the token was made for, or None (forged or altered)."""
    for candidate in candidates:
        if verify(claim, secret, candidate):
            return candidate
    return None
