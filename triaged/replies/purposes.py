"""Reply purposes: what a kind of reply token is, and the registry the router reads.

A `Purpose` says who may answer a token of its kind (`senders`) and what a
good reply does (`handle`). Each use case that sends tokens exports its own
purposes (`usecases.approval`, `usecases.escalation_replies`); the app puts
them in one `Registry` and gives it to intake's `ReplyRouter`. Nothing here
knows any purpose by name.

Adding a purpose: write a handler `def handle(ctx: ReplyContext) -> Mapping[str, Any]`
that does its work on `ctx.conn` (inside intake's transaction) and returns a
detail for the `reply_accepted` event, or raises `Refused("why")`; export a
`Purpose(name, senders=..., handle=handle, single_use=...)` next to it, add it
to the registry in `triaged/app.py`, and put the token in your letter with
`Mailer.queue_with_token`. The reply comes back through intake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from triaged.config.records import Config
from triaged.domain.errors import ApprovalRefused
from triaged.domain.records import ComplaintRef, ParsedMail
from triaged.replies.tokens import TokenClaim

# A reply that does not count; `reason` is told to the person it is answered to.
Refused = ApprovalRefused


@dataclass(frozen=True)
class ReplyContext:
    """What a purpose's handler gets: an authenticated reply, inside intake's transaction."""

    conn: Connection
    mail: ParsedMail
    message_row_id: int
    claim: TokenClaim
    sender: str
    complaint: ComplaintRef
    mailbox: str
    now: datetime


@dataclass(frozen=True)
class Purpose:
    """One kind of reply token: who may use it and what a good reply does."""

    name: str
    senders: Callable[[Config], Sequence[str]]
    handle: Callable[[ReplyContext], Mapping[str, Any]]
    single_use: bool = True
    current_version: Callable[[Connection, int], int] | None = None


@dataclass
class Registry:
    """The purposes one running triaged understands, by name."""

    purposes: dict[str, Purpose] = field(default_factory=dict)

    @classmethod
    def of(cls, *purposes: Purpose) -> Registry:
        registry = cls()
        for purpose in purposes:
            registry.add(purpose)
        return registry

    def add(self, purpose: Purpose) -> None:
        if purpose.name in self.purposes:
            raise ValueError(f"reply purpose {purpose.name!r} is registered twice")
        self.purposes[purpose.name] = purpose

    def get(self, name: str) -> Purpose | None:
        return self.purposes.get(name)
