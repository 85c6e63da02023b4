"""How much of a customer's words a letter carries (pure).

Anyone can mail us a megabyte of subject or body; the letters we write from it
(to staff, managers and the customer) carry a bounded excerpt instead, so one
message can never become a letter many times its size. A subject is cut to
`SUBJECT_CHARS` with "…"; a body to the caller's limit, with a last line
saying how much was left out and that `triaged show REF` has all of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A subject line a person reads whole: a phone shows about a hundred characters.
SUBJECT_CHARS = 300
# The customer's text quoted in a letter to staff or a manager.
QUOTED_CHARS = 3000
# What an escalation digest quotes of each complaint.
DIGEST_CHARS = 600
# Any other text put into a letter to staff (a bounce detail, a rejection
# reason): tens of KB is more than anyone reads in a notice.
FIELD_CHARS = 20_000
# Context keys whose values are one line: a subject, a person's name.
LINE_KEYS = frozenset({"subject", "final_subject", "original_subject", "customer_name",
                       "customer_label", "forwarder_name", "recipient_name", "manager_name"})
# A draft and the final letter made from it go to the manager whole: what a
# manager approves must be exactly what the customer gets. Both are bounded by
# the text cap of the message or command they came from.
WHOLE_KEYS = frozenset({"resolution", "final_text"})


def subject_excerpt(subject: str, limit: int = SUBJECT_CHARS) -> str:
    """`subject`, cut to at most `limit` characters with "…" when longer."""
    if len(subject) <= limit:
        return subject
    return subject[: limit - 1].rstrip() + "…"


def text_excerpt(text: str, reference: str, limit: int = QUOTED_CHARS) -> str:
    """`text` up to `limit` characters (cut at a space when there is one), then a
    line saying how many characters were left out and where the rest is."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(None, 1)[0]
    left = len(text) - len(cut)
    where = f"triaged show {reference}" if reference else "triaged show"
    return f"{cut} …\n[{left:,} more characters not shown; `{where}` has the whole message]"


def bounded_context(context: Mapping[str, Any], reference: str) -> dict[str, Any]:
    """A template context whose texts are all within the limits above.

    The one gate every letter to staff or a manager passes: subjects are cut
    as subjects, any other long text as a body excerpt, lists and mappings
    inside are bounded the same way.
    """
    return {key: _bounded(key, value, reference) for key, value in context.items()}


def _bounded(key: str, value: Any, reference: str) -> Any:
    if isinstance(value, str):
        if key in LINE_KEYS:
            return subject_excerpt(value)
        if key in WHOLE_KEYS:
            return value
        return text_excerpt(value, reference, FIELD_CHARS) if len(value) > FIELD_CHARS else value
    if isinstance(value, Mapping):
        return bounded_context(value, reference)
    if isinstance(value, list | tuple):
        return [_bounded(key, item, reference) for item in value]
    return value
