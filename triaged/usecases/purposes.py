"""The reply purposes triaged understands: the one list intake routes tokens by.

Each entry is a `routing.Purpose` (see `routing`'s docstring for how to add one):

- `draft`: staff answer the new-complaint notification (or a rejection notice)
  with the resolution text; any number of times, each reply a new version.
- `approve`: a manager answers an approval request with APPROVE, REJECT
  <reason> or the edited letter; once, and only for the current version.
- `escalation` (triaged.escalation_replies): a manager acknowledges or extends
  an escalation by reply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from triaged.config.records import Config
from triaged.core.decision import parse_decision
from triaged.core.reply_text import new_text
from triaged.replies.routing import Purpose, Refused, Registry, ReplyContext
from triaged.store import approval_rows
from triaged.store.approval_rows import ComplaintFacts
from triaged.usecases import approval as flow
from triaged.usecases import escalation_replies


def managers(config: Config) -> Sequence[str]:
    """Every configured manager's address: who may answer approval requests."""
    return [m.email for m in config.managers]


def staff(config: Config) -> Sequence[str]:
    """`staff.notify`: who may reply to a new-complaint notification with a draft."""
    return list(config.staff.notify)


def _facts(ctx: ReplyContext) -> ComplaintFacts:
    facts = approval_rows.complaint_facts(ctx.conn, ctx.complaint.id)
    if facts is None:
        raise Refused("the complaint no longer exists")
    return facts


def handle_draft(ctx: ReplyContext) -> Mapping[str, Any]:
    text = new_text(ctx.mail.text)
    if not text:
        raise Refused("no resolution text was found above the quoted message")
    draft = flow.Approvals(ctx.mailer).record_draft(
        ctx.conn, _facts(ctx), text, author=ctx.sender, source="email",
        message_row_id=ctx.message_row_id, now=ctx.now)
    return {"decision": "draft", "draft_version": draft.version}


def handle_approval(ctx: ReplyContext) -> Mapping[str, Any]:
    decision = parse_decision(ctx.mail.text)
    approvals = flow.Approvals(ctx.mailer)
    facts = _facts(ctx)
    if decision.kind == "reject":
        approvals.reject(ctx.conn, facts, by=ctx.sender, via="email", reason=decision.text,
                         message_row_id=ctx.message_row_id, now=ctx.now)
    else:
        approvals.approve(ctx.conn, facts, by=ctx.sender, via="email", edited=decision.text,
                          message_row_id=ctx.message_row_id, now=ctx.now)
    return {"decision": decision.kind}


def default_registry() -> Registry:
    registry = Registry()
    registry.add(Purpose(flow.DRAFT, senders=staff, handle=handle_draft, single_use=False))
    registry.add(Purpose(flow.APPROVE, senders=managers, handle=handle_approval,
                         current_version=approval_rows.current_version))
    registry.add(Purpose(escalation_replies.PURPOSE, senders=managers,
                         handle=escalation_replies.handle))
    return registry
