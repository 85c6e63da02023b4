"""A manager's decision in the words of their reply: APPROVE, REJECT <reason>, or an edit (pure).

The approval request asks for one of three answers, typed above the quoted
request: `APPROVE`; `REJECT` and the reason; or the whole edited resolution
between the two marker lines below. Only what the manager typed counts
(`reply_text`), so the instructions quoted from our own request can never be
read as a decision. Anything else is no decision, and is refused with the
instructions again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triaged.core.reply_text import fresh_lines, new_text
from triaged.domain.errors import ApprovalRefused

EDIT_START = "=== EDITED LETTER BEGINS ==="
EDIT_END = "=== EDITED LETTER ENDS ==="
_START = re.compile(r"^[\s*]*=+\s*edited\s+letter\s+begins\s*=+[\s*]*$", re.IGNORECASE)
_END = re.compile(r"^[\s*]*=+\s*edited\s+letter\s+ends\s*=+[\s*]*$", re.IGNORECASE)
_FIRST_WORD = re.compile(r"^[\s*_]*([A-Za-z]+)[\s*_.:!,-]*(.*)$", re.DOTALL)
APPROVE_WORDS = frozenset({"approve", "approved"})
REJECT_WORDS = frozenset({"reject", "rejected"})


@dataclass(frozen=True)
class Decision:
    """`kind` is approve, reject or edit; `text` is the reason or the edited resolution."""

    kind: str
    text: str = ""


def parse_decision(body: str) -> Decision:
    """Read the decision from a reply's text; raises `ApprovalRefused` saying why not."""
    lines = fresh_lines(body)
    # Marker lines are made of "=": other lines need no pattern.
    starts = [i for i, line in enumerate(lines) if "=" in line and _START.match(line)]
    if starts:
        ends = [i for i, line in enumerate(lines)
                if i > starts[0] and "=" in line and _END.match(line)]
        if not ends:
            raise ApprovalRefused(f"the edited letter has no closing line {EDIT_END!r}")
        edited = "\n".join(line.rstrip() for line in lines[starts[0] + 1:ends[0]]).strip()
        if not edited:
            raise ApprovalRefused("the edited letter between the marker lines is empty")
        return Decision("edit", edited)
    typed = new_text(body)
    match = _FIRST_WORD.match(typed)
    word = match.group(1).lower() if match else ""
    if word in APPROVE_WORDS:
        return Decision("approve")
    if word in REJECT_WORDS:
        assert match is not None
        # The reason is the rest of its paragraph: what follows is a signature more often
        # than not ("Dana Manager / Acme Bakery" without a "-- " line).
        reason = " ".join(match.group(2).strip().split("\n\n", 1)[0].split())
        if not reason:
            raise ApprovalRefused(
                "REJECT needs a reason, e.g. 'REJECT the refund must be 20 euros'")
        return Decision("reject", reason)
    raise ApprovalRefused("no decision found: reply with APPROVE, with REJECT and a reason, or "
                          "with the edited letter between the two marker lines")


def looks_like_decision(body: str) -> bool:
    """Whether the writer's own text starts with APPROVE or REJECT (token or not)."""
    match = _FIRST_WORD.match(new_text(body))
    return match is not None and match.group(1).lower() in APPROVE_WORDS | REJECT_WORDS
