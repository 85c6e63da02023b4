"""Replies that carry a token: authenticate, then hand them to their purpose's handler.

A message carrying one of our reply tokens (see `carriers`) is never a
complaint, never gets a holding reply and is never answered to a customer: it
is an `approval_reply`, and this module decides whether it counts. Every
decision, accepted or refused, is an event linked to the message's row; a
refusal is answered only to a configured person of the token's purpose, saying
why, and never to an automatic message.

A reply counts only when all of these hold, checked in this order:

1. the token's purpose is registered and approvals have a secret;
2. the message is not automatic (auto-reply, bounce…);
3. the sender (From) may use the purpose (`Purpose.senders`: managers, staff…);
4. the token's MAC verifies, and for that very sender (not another manager's);
5. it has not expired;
6. the complaint exists; the token is unused (`single_use`);
7. the draft version is still current (`current_version`, when the purpose has one);
8. with `approval.require_authentication_results`, the configured authserv-id's
   Authentication-Results says DKIM or DMARC passed for the sender's domain;
9. the handler accepts it (it raises `Refused` otherwise, e.g. "no APPROVE found").

The purposes come from the caller (`purposes.Registry`, assembled in
`triaged/app.py`), and so does the `Letters` port that queues a refusal's
answer: this module knows no purpose and no use case.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from triaged import logs
from triaged.config.records import Config
from triaged.core import references
from triaged.core.decision import looks_like_decision
from triaged.domain.events import Event
from triaged.domain.records import Address, ComplaintRef, EventKind, Letter, LetterKind, ParsedMail
from triaged.replies import authresults, carriers
from triaged.replies.purposes import Refused, Registry, ReplyContext
from triaged.replies.tokens import TokenClaim, bound_recipient, parse_token
from triaged.store import approval_rows, rows
from triaged.store.db import savepoint
from triaged.store.journal import Journal

log = logging.getLogger("triaged.approval")


class Letters(Protocol):
    """How the router writes the answer to a refusal (`usecases.mailer.Mailer` is one)."""

    def internal_letter(self, kind: LetterKind, to: Address, context: Mapping[str, Any], *,
                        in_reply_to: str = "", references: tuple[str, ...] = ()) -> Letter: ...

    def queue(self, journal: Journal, letter: Letter, *, complaint_id: int | None,
              mailbox: str, now: datetime, automatic: bool = False, message_id: str = "",
              about: str = "") -> None: ...


@dataclass(frozen=True)
class Recognised:
    """A message that carries a token: what it claims, and the complaint if it exists.

    `claim` is None for a message from a manager or staff member that names a
    complaint (`[REF]` in the subject) and starts with APPROVE or REJECT but
    carries no token: a decision written as a new message, or a forgery in
    their name. It is refused, never a complaint.
    """

    claim: TokenClaim | None
    complaint: ComplaintRef | None


@dataclass
class _Verdict:
    reason: str = ""
    answer_to: str = ""
    bound: str = ""


class ReplyRouter:
    """Recognises replies that carry a token and decides on them, by `registry`'s purposes."""

    def __init__(self, config: Config, registry: Registry, letters: Letters) -> None:
        self.config = config
        self.registry = registry
        self.letters = letters
        self._own = frozenset(m.address.lower() for m in config.mailboxes)
        self._insiders_cache: frozenset[str] | None = None

    def recognise(self, conn: Connection, mail: ParsedMail) -> Recognised | None:
        """The token `mail` carries (the most telling one), or None: not a reply to us."""
        for text in carriers.find_tokens(mail, self._own):
            claim = parse_token(text)
            if claim is not None:
                return Recognised(claim, rows.complaint_by_id(conn, claim.complaint_id))
        if mail.sender.email.lower() in self._insiders() and looks_like_decision(mail.text):
            for reference in references.find_in_text(mail.subject):
                found = rows.complaint_by_reference(conn, reference)
                if found is not None:
                    return Recognised(None, found)
        return None

    def _insiders(self) -> frozenset[str]:
        """Everyone some purpose lets answer: managers, staff… (worked out once)."""
        if self._insiders_cache is None:
            self._insiders_cache = frozenset(a.lower() for p in self.registry.purposes.values()
                                             for a in p.senders(self.config))
        return self._insiders_cache

    def handle(
        self,
        conn: Connection,
        mail: ParsedMail,
        found: Recognised,
        *,
        message_row_id: int,
        mailbox: str,
        now: datetime,
        automatic: str = "",
    ) -> str:
        """Decide on a recognised reply; return "" when accepted, else the refusal reason.

        `automatic` is the classify rule's reason when the message is machine-sent.
        Writes the decision's event and, for a refusal, queues the answer.
        """
        claim, sender = found.claim, mail.sender.email.lower()
        if found.complaint is not None:
            logs.tag(reference=found.complaint.reference)
        if claim is None:
            verdict = _Verdict("the message carries no approval token: answer the request "
                               "itself with Reply, not with a new message",
                               answer_to="" if automatic else sender)
            self._refuse(conn, mail, found, verdict, {"purpose": "", "sender": sender},
                         message_row_id, mailbox, now)
            return verdict.reason
        verdict = self._authenticate(conn, mail, claim, found, sender, now, automatic)
        detail: dict[str, Any] = {"purpose": claim.purpose, "sender": sender,
                                  "version": claim.version}
        if not verdict.reason:
            assert found.complaint is not None
            ctx = ReplyContext(conn, mail, message_row_id, claim, sender, found.complaint,
                               mailbox, now)
            refused = self._act(ctx, detail)
            if not refused:
                return ""
            verdict.reason, verdict.answer_to = refused, sender
        self._refuse(conn, mail, found, verdict, detail, message_row_id, mailbox, now)
        return verdict.reason

    def _act(self, ctx: ReplyContext, detail: dict[str, Any]) -> str:
        """Spend the token (if it counts once), let its purpose act and record
        `reply_accepted` with what it did in `detail`; "" when accepted, else the
        refusal's reason (the purpose refused, or the token was spent meanwhile)."""
        claim, conn = ctx.claim, ctx.conn
        purpose = self.registry.get(claim.purpose)
        assert purpose is not None
        try:
            # One savepoint: a refusal by the handler undoes the token's use,
            # and a replay that raced us undoes nothing the handler did.
            with savepoint(conn):
                if purpose.single_use and not approval_rows.use_token(
                        conn, digest=claim.digest, purpose=claim.purpose,
                        complaint_id=ctx.complaint.id, used_by=ctx.sender,
                        message_row_id=ctx.message_row_id, now=ctx.now):
                    raise Refused("this request has already been answered")
                detail.update(purpose.handle(ctx))
        except Refused as refused:
            return refused.reason
        log.info("%s reply from %s accepted on complaint %s", claim.purpose, ctx.sender,
                 ctx.complaint.id)
        with Journal(conn) as journal:
            journal.record(Event(ctx.complaint.id, EventKind.REPLY_ACCEPTED, ctx.now,
                                 ctx.sender, ctx.message_row_id, detail))
        return ""

    def _authenticate(
        self, conn: Connection, mail: ParsedMail, claim: TokenClaim, found: Recognised,
        sender: str, now: datetime, automatic: str,
    ) -> _Verdict:
        """Whether the reply may act: the right sender, a valid token, still current."""
        purpose = self.registry.get(claim.purpose)
        secret = self.config.approval.secret
        if purpose is None:
            return _Verdict(f"replies of kind {claim.purpose!r} are not understood")
        if secret is None:
            return _Verdict("approval by email is not configured (approval.secret_file)")
        allowed = [a.lower() for a in purpose.senders(self.config)]
        bound = bound_recipient(claim, secret.reveal(), allowed) or ""
        if automatic:
            return _Verdict(f"an automatic message ({automatic}) cannot decide anything",
                            bound=bound)
        if sender not in allowed:
            # Whoever wrote is nobody we answer; the person the token was for is told.
            return _Verdict(f"{sender} is not allowed to answer this request", answer_to=bound,
                            bound=bound)
        if not bound:
            return _Verdict("the reply's token does not verify (it is forged or was altered)",
                            answer_to=sender)
        if bound != sender:
            return _Verdict(f"this request was sent to {bound}, not to {sender}: only its "
                            "recipient can answer it", answer_to=sender, bound=bound)
        return self._current(conn, mail, claim, found, sender, now, bound)

    def _current(
        self, conn: Connection, mail: ParsedMail, claim: TokenClaim, found: Recognised,
        sender: str, now: datetime, bound: str,
    ) -> _Verdict:
        """The token's recipient answered: whether the request still stands."""
        purpose = self.registry.get(claim.purpose)
        assert purpose is not None
        if claim.expires_at <= now:
            return _Verdict(f"this request expired on {claim.expires_at:%Y-%m-%d %H:%M} UTC",
                            answer_to=sender, bound=bound)
        if found.complaint is None:
            return _Verdict("the complaint this request is about no longer exists",
                            answer_to=sender, bound=bound)
        named = references.find_in_text(mail.subject)
        if named and found.complaint.reference not in named:
            return _Verdict(f"the token is for complaint {found.complaint.reference}, but the "
                            f"subject names {', '.join(named)}", answer_to=sender, bound=bound)
        if purpose.single_use:
            used_at = approval_rows.token_used_at(conn, claim.digest)
            if used_at is not None:
                return _Verdict(f"this request was already answered on {used_at:%Y-%m-%d %H:%M}"
                                " UTC; a request counts once", answer_to=sender, bound=bound)
        if purpose.current_version is not None:
            current = purpose.current_version(conn, found.complaint.id)
            if claim.version != current:
                return _Verdict(f"this request is about version {claim.version} of the letter, "
                                f"but version {current} is now current: answer the newest "
                                "request", answer_to=sender, bound=bound)
        approval = self.config.approval
        if approval.require_authentication_results:
            headers = [v for k, v in mail.headers if k.lower() == "authentication-results"]
            auth = authresults.check(headers, approval.authserv_id, sender)
            if not auth.passed:
                return _Verdict(f"the message could not be authenticated: {auth.reason}",
                                answer_to=sender, bound=bound)
        return _Verdict(bound=bound)

    def _refuse(
        self, conn: Connection, mail: ParsedMail, found: Recognised, verdict: _Verdict,
        detail: dict[str, Any], message_row_id: int, mailbox: str, now: datetime,
    ) -> None:
        complaint = found.complaint
        complaint_id = complaint.id if complaint is not None else None
        log.warning("%s reply from %s refused: %s", detail["purpose"] or "token-less",
                    detail["sender"], verdict.reason)
        journal = Journal(conn)
        journal.record(Event(complaint_id, EventKind.REPLY_REFUSED, now, detail["sender"],
                             message_row_id, {**detail, "reason": verdict.reason,
                                              "answered_to": verdict.answer_to}))
        approval_rows.set_message_reason(conn, message_row_id, verdict.reason)
        if verdict.answer_to:
            context = {
                "reason": verdict.reason,
                "sender": detail["sender"],
                "subject": carriers.without_tokens(mail.subject),
                "reference": complaint.reference if complaint is not None else "",
                "business_name": self.config.business.name,
            }
            letter = self.letters.internal_letter(LetterKind.REFUSAL,
                                                  Address(verdict.answer_to), context,
                                                  in_reply_to=mail.message_id,
                                                  references=mail.references)
            self.letters.queue(journal, letter, complaint_id=complaint_id, mailbox=mailbox,
                               now=now, automatic=True)
        journal.flush()
