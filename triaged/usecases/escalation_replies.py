"""A manager's reply to an escalation: `ACK` or `EXTEND <duration>` (the "escalation" purpose).

The reply reaches `handle` only after `replies.routing` has authenticated it
exactly as an approval: a configured manager, a token bound to that complaint
and to that manager, unused, unexpired (and DKIM/DMARC when configured). What
is left here is reading the command and carrying it out; anything wrong is a
`Refused` whose reason the manager receives in a short reply.

The command is the first line of the manager's own words (quoted lines are
skipped), or else the subject, so both a typed reply and a tapped
`mailto:` link (subject "ACK K7M-Q3X9", body "ACK") work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any

from triaged.replies.purposes import Purpose, Refused, ReplyContext
from triaged.replies.tokens import TOKEN_PATTERN
from triaged.usecases.approval import managers
from triaged.usecases.promises import Promises, parse_extension

PURPOSE = "escalation"
_COMMAND = re.compile(r"^(ACK|ACKNOWLEDGED?|EXTEND)\b[\s:]*(.*)$", re.IGNORECASE)
_SUBJECT_NOISE = re.compile(
    rf"^\s*((re|aw|sv|vs|antw|tr|rv|r|res|odp)\s*[:：]\s*)+|\[#\s*{TOKEN_PATTERN}\s*\]",
    re.IGNORECASE,
)
HOW = ("write ACK, or EXTEND and a duration such as EXTEND 3 business days, as your "
       "reply's first line")


def find_command(text: str, subject: str) -> tuple[str, str] | None:
    """("ACK", "") or ("EXTEND", "3 business days") from a reply; None if there is none."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(">"):
            continue
        return _command(stripped)
    return _command(_SUBJECT_NOISE.sub(" ", subject).strip())


def _command(line: str) -> tuple[str, str] | None:
    match = _COMMAND.match(line)
    if match is None:
        return None
    verb = "EXTEND" if match[1].upper() == "EXTEND" else "ACK"
    return verb, match[2].strip().rstrip(".!")


def purpose(promises: Promises) -> Purpose:
    """The "escalation" purpose: any manager may answer; `promises` carries it out."""
    return Purpose(PURPOSE, senders=managers, handle=partial(handle, promises))


def handle(promises: Promises, ctx: ReplyContext) -> Mapping[str, Any]:
    """Carry out ACK or EXTEND on the token's complaint; the detail for `reply_accepted`."""
    command = find_command(ctx.mail.text, ctx.mail.subject)
    if command is None:
        raise Refused(f"no command found: {HOW}")
    verb, argument = command
    if verb == "ACK":
        levels = [m.level for m in promises.config.managers
                  if m.email.lower() == ctx.sender.lower()]
        until = promises.acknowledge(ctx.conn, ctx.complaint.id, level=max(levels, default=1),
                                     actor=ctx.sender, now=ctx.now,
                                     message_row_id=ctx.message_row_id)
        return {"command": "ACK", "held_until": until.isoformat()}
    if not argument:
        raise Refused(f"EXTEND needs a duration: {HOW}")
    # A reference written after the duration ("EXTEND 2 days K7M-Q3X9") is not part of it.
    words = [w for w in argument.split() if w.upper() != ctx.complaint.reference]
    extended = promises.extend(ctx.conn, ctx.complaint.id, parse_extension(" ".join(words)),
                               actor=ctx.sender, now=ctx.now,
                               message_row_id=ctx.message_row_id)
    return {"command": "EXTEND", "old_due_at": extended.old_due_at.isoformat(),
            "new_due_at": extended.new_due_at.isoformat()}
