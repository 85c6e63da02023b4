"""A complaint's event log told in a few entries, for the approval request (pure).

Each entry is data (what happened, when, by whom), not a sentence: the
request is written in the business's language, and each language's template
says "version 2 drafted by bob@…" its own way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

# What a manager cares about, as the templates name it.
WHATS = ("received", "acknowledged", "follow_up", "drafted", "rejected", "escalated",
         "reopened")


def _what(kind: str, detail: dict[str, Any]) -> str | None:
    if kind == "registered":
        return "received"
    if kind == "letter_sent" and detail.get("kind") == "holding":
        return "acknowledged"
    if kind in ("follow_up", "drafted", "rejected", "escalated"):
        return kind
    if kind == "state_changed" and detail.get("to") == "in_progress" and \
            detail.get("from") in ("resolved", "closed"):
        return "reopened"
    return None


def history_entries(
    events: Sequence[tuple[datetime, str, str, str]], when: Callable[[datetime], str]
) -> list[dict[str, Any]]:
    """One entry per event a manager cares about, oldest first.

    Every entry has the same keys (`what`, one of `WHATS`; `when`, already
    written in the letter's language; `actor`, `customer`, `version`,
    `level`, `reason`), so a template never meets an undefined one.
    """
    entries = []
    for at, kind, actor, detail in events:
        try:
            decoded = json.loads(detail) if detail else {}
        except ValueError:
            decoded = {}
        facts = decoded if isinstance(decoded, dict) else {}
        what = _what(kind, facts)
        if what is None:
            continue
        entries.append({
            "what": what, "when": when(at), "actor": actor,
            "customer": str(facts.get("customer", "")),
            "version": facts.get("version", ""), "level": facts.get("level", ""),
            "reason": str(facts.get("reason", "")),
        })
    return entries
