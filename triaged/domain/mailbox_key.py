"""One key per real mailbox, whatever spelling a sender uses for it.

`Dana@Example.test`, `dana+0@example.test` and `dana+shop@example.test` reach the
same mailbox, and at providers that ignore dots in the local part (Gmail) so does
`d.a.n.a@gmail.com`. Limits that protect a mailbox (automatic letters per day) and
checks of who is speaking on a complaint compare these keys, never raw addresses,
so a sender cannot multiply one victim into many addresses.
"""

from __future__ import annotations

# Providers known to deliver `a.b@` and `ab@` to the same mailbox; the config may
# name others. googlemail.com is the same service under another name.
DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
_SAME_SERVICE = {"googlemail.com": "gmail.com"}


def mailbox_key(address: str, dotless_domains: frozenset[str] = DOTLESS_DOMAINS) -> str:
    """`address` as the mailbox it reaches: lower case, no `+detail`, no dots where
    the provider ignores them. An address without `@` is only lower-cased."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return domain
    local = local.split("+", 1)[0] or local
    if domain in dotless_domains:
        local = local.replace(".", "")
    return f"{local}@{_SAME_SERVICE.get(domain, domain)}"


def same_mailbox(
    first: str, second: str, dotless_domains: frozenset[str] = DOTLESS_DOMAINS
) -> bool:
    """True when both addresses reach one mailbox."""
    return mailbox_key(first, dotless_domains) == mailbox_key(second, dotless_domains)
