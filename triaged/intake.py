"""Intake: one incoming message → one committed outcome (SPEC §2–3).

`Intake.process(raw)` handles exactly one message in one transaction: the raw
bytes, the cursor step, the classification, the complaint and its holding
letter in the outbox are committed together or not at all. Only after that
commit does the poll loop mark the message processed on the server, so a crash
at any point either leaves the message to be read again (and recognised by its
hash) or leaves a committed outcome whose server-side move is redone from
`MailSource.leftovers()`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from triaged import references
from triaged.classify import ClassifyContext, classify
from triaged.clock import Clock
from triaged.config import Config
from triaged.domain import Address, ComplaintState, EventKind, Outcome, ParsedMail, RawMail
from triaged.errors import QuarantineError
from triaged.outbound.compose import compose, new_message_id
from triaged.outbound.letters import HoldingFacts, holding_letter
from triaged.outbound.render import Renderer
from triaged.parse.message import parse_message
from triaged.sla.calendar import BusinessCalendar
from triaged.store import complaints, messages, outbox
from triaged.store.db import transaction
from triaged.store.models import Complaint, MessageRow

log = logging.getLogger("triaged.intake")

# Holding replies are automatic letters: at most this many to one address a day
# unless the config says otherwise (SPEC §9 "Rate limit").
RATE_WINDOW = timedelta(hours=24)


@dataclass
class Tally:
    """What one poll did, by outcome, for logs, metrics and the demo's story."""

    counts: dict[str, int] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.value] = self.counts.get(outcome.value, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Intake:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        clock: Clock,
        renderer: Renderer,
        calendar: BusinessCalendar,
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock
        self.renderer = renderer
        self.calendar = calendar
        self._own = frozenset(m.address.lower() for m in config.mailboxes)

    def process(
        self,
        raw: RawMail,
        *,
        answer: bool = True,
        on_commit: Callable[[Session], None] | None = None,
        tally: Tally | None = None,
    ) -> Outcome:
        """Record `raw` and its outcome in a transaction of its own; return the outcome.

        `answer=False` registers without a holding reply (`start = "all"`
        backfill). `on_commit` runs inside the transaction (the poll loop moves
        its cursor there). Never raises for a bad message: what cannot be
        parsed is quarantined with its reason.
        """
        with transaction(self.engine) as session:
            outcome = self.process_in(session, raw, answer=answer, tally=tally)
            if on_commit is not None:
                on_commit(session)
        return outcome

    def process_in(
        self, session: Session, raw: RawMail, *, answer: bool = True, tally: Tally | None = None
    ) -> Outcome:
        """Record `raw` inside the caller's transaction, in a savepoint of its own.

        A bug while handling one message rolls back only that message, which
        is then quarantined with the error as its reason (Mailman's shunt
        queue): one bad message never blocks the mailbox and is never lost.
        Database errors are not the message's fault and propagate.
        """
        try:
            with session.begin_nested():
                outcome, reference = self._process(session, raw, answer)
        except SQLAlchemyError:
            raise
        except Exception as error:
            log.exception("internal error on %s/%s uid %s", raw.mailbox, raw.folder, raw.uid)
            with session.begin_nested():
                digest = hashlib.sha256(raw.data).hexdigest()
                self._quarantine(session, raw, digest,
                                 f"internal error: {type(error).__name__}: {error}")
            outcome, reference = Outcome.QUARANTINED, ""
        if tally is not None:
            tally.add(outcome)
            if reference:
                tally.references.append(reference)
        return outcome

    # -- steps ------------------------------------------------------------------

    def _process(self, session: Session, raw: RawMail, answer: bool) -> tuple[Outcome, str]:
        digest = hashlib.sha256(raw.data).hexdigest()
        try:
            mail = parse_message(raw.data)
        except QuarantineError as error:
            self._quarantine(session, raw, digest, error.reason)
            return Outcome.QUARANTINED, ""

        original = messages.find_duplicate(
            session,
            sha256=digest,
            message_id=mail.message_id,
            sender=mail.sender.email,
            sent_date=mail.date,
            text=mail.text,
        )
        if original is not None:
            self._store(session, raw, digest, mail, Outcome.DUPLICATE, "duplicate", keep_raw=False,
                        duplicate_of=original.id)
            return Outcome.DUPLICATE, ""

        context = ClassifyContext(
            own_addresses=self._own,
            is_our_message_id=lambda mid: messages.is_our_message_id(session, mid),
        )
        verdict = classify(mail, context)
        if verdict.outcome is not Outcome.COMPLAINT:
            log.info("not a complaint: %s from %s (%s)", mail.message_id, mail.sender.email,
                     verdict.reason or verdict.rule)
            self._store(session, raw, digest, mail, verdict.outcome, verdict.rule,
                        reason=verdict.reason)
            return verdict.outcome, ""

        existing = self._thread(session, mail)
        if existing is not None:
            row = self._store(session, raw, digest, mail, Outcome.FOLLOW_UP, "thread",
                              complaint_id=existing.id)
            self._attach(session, existing, row)
            return Outcome.FOLLOW_UP, existing.reference

        row = self._store(session, raw, digest, mail, Outcome.COMPLAINT, verdict.rule)
        complaint = self._register(session, raw, mail, row)
        if answer:
            self._queue_holding(session, raw, mail, complaint)
        return Outcome.COMPLAINT, complaint.reference

    def _quarantine(self, session: Session, raw: RawMail, digest: str, reason: str) -> None:
        log.warning("quarantined %s/%s uid %s: %s", raw.mailbox, raw.folder, raw.uid, reason)
        row = messages.add_message(
            session,
            mailbox=raw.mailbox, folder=raw.folder, uidvalidity=raw.uidvalidity, uid=raw.uid,
            message_id="", sha256=digest, raw=raw.data, size=len(raw.data), sender="",
            subject="", sent_date=None, text="", outcome=Outcome.QUARANTINED.value,
            rule="unparseable", reason=reason, received_at=self.clock.now(),
        )
        messages.quarantine(session, row, reason, self.clock.now())

    def _store(
        self,
        session: Session,
        raw: RawMail,
        digest: str,
        mail: ParsedMail,
        outcome: Outcome,
        rule: str,
        *,
        reason: str = "",
        keep_raw: bool = True,
        complaint_id: int | None = None,
        duplicate_of: int | None = None,
    ) -> MessageRow:
        return messages.add_message(
            session,
            mailbox=raw.mailbox, folder=raw.folder, uidvalidity=raw.uidvalidity, uid=raw.uid,
            message_id=mail.message_id, sha256=digest, raw=raw.data if keep_raw else None,
            size=len(raw.data), sender=mail.sender.email, subject=mail.subject,
            sent_date=mail.date, text=mail.text, outcome=outcome.value, rule=rule,
            reason=reason, complaint_id=complaint_id, duplicate_of=duplicate_of,
            received_at=self.clock.now(),
        )

    def _thread(self, session: Session, mail: ParsedMail) -> Complaint | None:
        """The complaint this message continues, by its headers or its reference token.

        A reference token counts only from the complaint's own customer; from
        anyone else it opens a new complaint (someone quoting a reference is
        not the customer).
        """
        ids = [*mail.in_reply_to, *mail.references]
        if ids:
            found = messages.complaint_for_message_ids(session, ids)
            if found is not None:
                return found
        for token in references.find_in_text(mail.subject):
            found = complaints.get_by_reference(session, token)
            if found is not None and found.customer_email.lower() == mail.sender.email.lower():
                return found
        return None

    def _attach(self, session: Session, complaint: Complaint, row: MessageRow) -> None:
        now = self.clock.now()
        complaints.add_event(session, complaint.id, EventKind.FOLLOW_UP, now=now,
                             actor="customer", message_row_id=row.id)
        if complaint.state in (ComplaintState.RESOLVED, ComplaintState.CLOSED):
            complaints.transition(session, complaint, ComplaintState.IN_PROGRESS, now=now,
                                  actor="customer", message_row=row,
                                  detail={"why": "customer wrote again"})
        log.info("follow-up %s on %s", row.message_id, complaint.reference)

    def _register(
        self, session: Session, raw: RawMail, mail: ParsedMail, row: MessageRow
    ) -> Complaint:
        now = self.clock.now()
        reference = references.new_reference()
        while complaints.reference_exists(session, reference):
            reference = references.new_reference()
        due = self.calendar.add(now, self.config.sla.resolve_within)
        complaint = complaints.register(
            session,
            reference=reference, mailbox=raw.mailbox, customer_email=mail.sender.email,
            customer_name=mail.sender.name, subject=mail.subject,
            language=self.config.business.language, received_at=now, due_at=due,
            message_row=row, now=now,
        )
        log.info("registered %s from %s, due %s", reference, mail.sender.email, due.isoformat())
        return complaint

    def _queue_holding(
        self, session: Session, raw: RawMail, mail: ParsedMail, complaint: Complaint
    ) -> None:
        now = self.clock.now()
        customer = Address(complaint.customer_email, complaint.customer_name)
        limit = self.config.limits.auto_letters_per_day
        sent = outbox.automatic_letters_since(session, customer.email, now - RATE_WINDOW)
        if sent >= limit:
            complaints.add_event(session, complaint.id, EventKind.LETTER_SUPPRESSED, now=now,
                                 actor="system",
                                 detail={"kind": "holding", "why": f"rate limit {limit}/24h"})
            log.warning("no holding reply to %s: %d automatic letters in 24 h", customer.email,
                        sent)
            return
        business = self.config.business
        letter = holding_letter(
            HoldingFacts(
                business_name=business.name, customer=customer, reference=complaint.reference,
                subject=mail.subject, received_at=complaint.received_at, due_at=complaint.due_at,
                timezone=business.timezone, language=complaint.language,
                in_reply_to=mail.message_id, references=mail.references,
            ),
            self.renderer,
        )
        sender = Address(self._mailbox_address(raw.mailbox), business.name)
        message_id = new_message_id(sender)
        outbox.enqueue(
            session, complaint_id=complaint.id, kind=letter.kind.value, to_email=customer.email,
            message_id=message_id, subject=letter.subject,
            raw=compose(letter, sender, now=now, message_id=message_id), automatic=True, now=now,
        )

    def _mailbox_address(self, name: str) -> str:
        for mailbox in self.config.mailboxes:
            if mailbox.name == name:
                return mailbox.address
        return self.config.mailboxes[0].address
