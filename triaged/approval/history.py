"""A complaint's event log told in a few lines, for the approval request (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any


def _line(kind: str, actor: str, detail: dict[str, Any], when: str) -> str | None:
    if kind == "registered":
        return f"{when}: received from {detail.get('customer', 'the customer')}"
    if kind == "letter_sent" and detail.get("kind") == "holding":
        return f"{when}: acknowledged (holding reply sent)"
    if kind == "follow_up":
        return f"{when}: the customer wrote again"
    if kind == "drafted":
        return f"{when}: version {detail.get('version')} drafted by {actor}"
    if kind == "rejected":
        return f"{when}: version {detail.get('version')} rejected by {actor}: " \
               f"{detail.get('reason', '')}"
    if kind == "escalated":
        return f"{when}: escalated (level {detail.get('level', '?')})"
    if kind == "state_changed" and detail.get("to") == "in_progress" and \
            detail.get("from") in ("resolved", "closed"):
        return f"{when}: reopened"
    return None


def history_lines(
    events: Sequence[tuple[datetime, str, str, str]], when: Callable[[datetime], str]
) -> list[str]:
    """One line per event a manager cares about, oldest first."""
    lines = []
    for at, kind, actor, detail in events:
        try:
            decoded = json.loads(detail) if detail else {}
        except ValueError:
            decoded = {}
        line = _line(kind, actor, decoded if isinstance(decoded, dict) else {}, when(at))
        if line is not None:
            lines.append(line)
    return lines
