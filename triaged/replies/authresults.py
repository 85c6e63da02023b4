"""Did the receiving server authenticate the sender? Authentication-Results, RFC 8601 (pure).

Only headers whose authserv-id is the configured one count: anybody can write
an Authentication-Results header into a message, and RFC 8601 §5 requires the
receiving server to remove any that claim *its* id before adding its own, so
headers with our server's id are the server's word, and others are noise.
A decision needs `dkim=pass` with a signing domain (`header.d`, or the domain
of `header.i`) aligned with the sender's, or `dmarc=pass` with `header.from`
aligned: equal, or the signing domain a parent of the sender's (DMARC's
relaxed alignment). No such header is a failure, not a pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A property name is tried only where a name begins (the lookbehind): a long
# word without "=" is then read once, not again from each of its characters.
_PROPERTY = re.compile(r"(?<![a-z0-9_.-])([a-z0-9_.-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)",
                       re.IGNORECASE)


@dataclass(frozen=True)
class AuthVerdict:
    passed: bool
    reason: str


def _strip_comments(value: str) -> str:
    """`value` with each (comment), nested ones included, replaced by a space.

    One pass: a removal per nesting level would cost the length of the header
    once per level. A "(" that is never closed stays, with what follows it.
    """
    out: list[str] = []
    opened: list[int] = []  # where in `out` each open comment began
    for char in value:
        if char == "(":
            opened.append(len(out))
        elif char == ")" and opened:
            del out[opened.pop():]
            out.append(" ")
            continue
        out.append(char)
    return "".join(out)


def _aligned(sender_domain: str, domain: str) -> bool:
    domain = domain.strip().strip('"').lower().lstrip("@").rpartition("@")[2]
    if not domain or "." not in domain:
        return False
    return sender_domain == domain or sender_domain.endswith("." + domain)


def _results(value: str) -> tuple[str, list[dict[str, str]]]:
    """(authserv-id, [{method: result, property: value}, …]) of one header value."""
    parts = _strip_comments(value).split(";")
    authserv_id = parts[0].split()[0].lower() if parts[0].split() else ""
    results: list[dict[str, str]] = []
    for part in parts[1:]:
        pairs = _PROPERTY.findall(part)
        if pairs:
            results.append({key.lower(): val.strip('"').lower() for key, val in pairs})
    return authserv_id, results


def check(headers: list[str], authserv_id: str, sender: str) -> AuthVerdict:
    """Whether one of `headers` from `authserv_id` says DKIM or DMARC passed for `sender`."""
    sender_domain = sender.rpartition("@")[2].lower()
    wanted = authserv_id.lower()
    seen = []
    for value in headers:
        server, results = _results(value)
        if server != wanted:
            continue
        for result in results:
            if result.get("dkim") == "pass" and (
                _aligned(sender_domain, result.get("header.d", ""))
                or _aligned(sender_domain, result.get("header.i", ""))
            ):
                return AuthVerdict(True, f"dkim=pass for {sender_domain}")
            if result.get("dmarc") == "pass" and _aligned(sender_domain,
                                                          result.get("header.from", "")):
                return AuthVerdict(True, f"dmarc=pass for {sender_domain}")
            for method in ("dkim", "dmarc"):
                if method in result:
                    seen.append(f"{method}={result[method]}")
    if not seen:
        return AuthVerdict(False, f"no Authentication-Results from {authserv_id} saying DKIM "
                                  f"or DMARC passed for {sender_domain}")
    return AuthVerdict(False, f"{authserv_id} reports {', '.join(dict.fromkeys(seen))} "
                              f"for {sender_domain}, not a pass")
