"""Category and priority of a new complaint, from the rules in the config (pure).

A keyword matches case-insensitively, after Unicode NFKC normalisation (so
full-width "ＵＲＧＥＮＴ" is "urgent"). In scripts that separate words with
spaces a keyword must stand as whole words ("late" does not match "chocolate");
a trailing `*` makes it a prefix ("refund*" matches "refunded"). In Chinese,
Japanese, Thai and Korean text words are not reliably space-separated (Korean
attaches particles: 환불을), so keywords written in those scripts match
anywhere in the text.

The category is the rule with the most different keywords found, ties going to
the rule listed first; the priority is the first rule in the file that matches
the sender or a keyword. What matched is returned, for the event log, so staff
can see why a complaint was sorted the way it was.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from triaged.config.records import NORMAL_PRIORITY, CategoryRule, PriorityRule
from triaged.domain.durations import Duration

# Scripts written without spaces between words (or with particles glued on).
_UNSPACED = re.compile(
    r"[\u0e00-\u0e7f\u0e80-\u0eff\u1100-\u11ff\u3040-\u30ff\u3130-\u318f"
    r"\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f]"
)


@dataclass(frozen=True)
class Sorting:
    """Category ("" when none) and priority of one complaint, and the rules' evidence."""

    category: str = ""
    priority: str = NORMAL_PRIORITY
    category_keywords: tuple[str, ...] = ()
    priority_match: str = ""
    resolve_within: Duration | None = field(default=None, compare=False)

    def detail(self) -> dict[str, Any]:
        """The `categorized` event's detail."""
        return {
            "category": self.category,
            "matched_keywords": list(self.category_keywords),
            "priority": self.priority,
            "priority_matched": self.priority_match,
        }


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


@functools.lru_cache(maxsize=4096)
def _pattern(keyword: str) -> re.Pattern[str]:
    word = normalise(keyword)
    prefix = word.endswith("*")
    word = word.rstrip("*").strip()
    # Spaces in a phrase match any run of whitespace (line breaks included).
    body = r"\s+".join(re.escape(part) for part in word.split())
    if _UNSPACED.search(word):
        return re.compile(body)
    return re.compile(rf"(?<!\w){body}" + ("" if prefix else r"(?!\w)"))


def found_keywords(keywords: tuple[str, ...], text: str) -> tuple[str, ...]:
    """The keywords (as configured) that occur in the normalised `text`."""
    return tuple(k for k in keywords if _pattern(k).search(text))


def _sender_matches(senders: tuple[str, ...], sender: str) -> str:
    address = sender.lower()
    domain = "@" + address.rpartition("@")[2]
    for wanted in senders:
        if wanted == address or (wanted.startswith("@") and wanted == domain):
            return wanted
    return ""


def sort_complaint(
    *,
    subject: str,
    text: str,
    sender: str,
    categories: tuple[CategoryRule, ...],
    priorities: tuple[PriorityRule, ...],
) -> Sorting:
    """Apply the rules to a complaint's subject, text and sender address.

    `resolve_within` is the priority's when it sets one, else the category's,
    else None (the `[sla]` default applies): an urgent or VIP complaint is
    promised what its priority promises, whatever it is about.
    """
    haystack = normalise(f"{subject}\n{text}")
    category, category_sla, best = "", None, 0
    category_keywords: tuple[str, ...] = ()
    for rule in categories:
        hits = found_keywords(rule.keywords, haystack)
        if len(hits) > best:
            category, category_keywords, category_sla, best = (
                rule.name, hits, rule.resolve_within, len(hits))
    priority, match, priority_sla = NORMAL_PRIORITY, "", None
    for prule in priorities:
        match = _sender_matches(prule.senders, sender)
        if not match:
            keywords = found_keywords(prule.keywords, haystack)
            match = keywords[0] if keywords else ""
        if match:
            priority, priority_sla = prule.name, prule.resolve_within
            break
    return Sorting(
        category=category,
        priority=priority,
        category_keywords=category_keywords,
        priority_match=match,
        resolve_within=priority_sla or category_sla,
    )
