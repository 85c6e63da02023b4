"""Intake: one incoming message → one committed outcome.

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
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from triaged import logs
from triaged.core import follow_ups, reading, references
from triaged.core.categories import Sorting
from triaged.core.classify import ClassifyContext, classify
from triaged.core.follow_ups import Speaker, Thread
from triaged.core.ladder import Ladder, ladder_of
from triaged.core.letters.compose import may_be_ours
from triaged.core.letters.customer import HoldingFacts, holding_letter
from triaged.core.parse.bounces import read_bounce
from triaged.core.parse.forwarded import Attribution, ForwardContext, PassedOn, Unattributed
from triaged.core.reading import Reading, ReadingRules
from triaged.domain.clock import Clock
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import (
    Address,
    ComplaintRef,
    ComplaintState,
    EventKind,
    Outcome,
    ParsedMail,
    RawMail,
    Verdict,
)
from triaged.replies.routing import Recognised, ReplyRouter
from triaged.store import quarantine_rows, rows, suppression
from triaged.store.approval_rows import ComplaintFacts
from triaged.store.db import savepoint, transaction
from triaged.usecases import attachments, bounced, letter_limits, satisfaction
from triaged.usecases.approval import Approvals
from triaged.usecases.mailer import Mailer
from triaged.usecases.notices import staff_notice
from triaged.usecases.reader import Reader

log = logging.getLogger("triaged.intake")

# Rules under which a message may be a delivery report worth reading for the
# letter it returns (`parse.bounces` decides whether it is one).
BOUNCE_RULES = frozenset({"delivery-report", "empty-return-path", "daemon-sender",
                          "auto-submitted", "autoreply-headers"})


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


@dataclass(frozen=True)
class NewComplaint:
    """A complaint registered in this transaction: what its holding reply needs."""

    id: int
    reference: str
    customer: Address
    language: str
    received_at: datetime
    due_at: datetime
    sorting: Sorting = field(default_factory=Sorting)


class Intake:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        mailer: Mailer,
        approvals: Approvals,
        replies: ReplyRouter,
        ladder: Ladder | None = None,
        reader: Reader | None = None,
    ) -> None:
        """`mailer`, `approvals` and `replies` (with its purposes) come from the app."""
        config = mailer.config
        self.engine = engine
        self.config = config
        self.clock = clock
        self.renderer = mailer.renderer
        self.calendar = mailer.calendar
        self.mailer = mailer
        self.approvals = approvals
        self.replies = replies
        self.ladder = ladder or ladder_of(config, self.calendar)
        self._own = frozenset(m.address.lower() for m in config.mailboxes)
        self._forwards = ForwardContext(
            own_addresses=self._own,
            forwarders=frozenset(a.lower() for a in config.staff.forwarders),
        )
        self._staff = self._own | self._forwards.forwarders | frozenset(
            a.lower() for a in config.staff.notify)
        # Who may write on any complaint: staff, managers and our own mailboxes.
        self._staff_mailboxes = frozenset(
            mailbox_key(a) for a in (*self._staff, *(m.email for m in config.managers)))
        # Without a worker (a caller that needs no budget) messages are read in-process.
        self.reader = reader

    @property
    def rules(self) -> ReadingRules:
        """What reading a message needs from the config (sent to the reading worker)."""
        config = self.config
        return ReadingRules(self._forwards, config.business.language, self.renderer.languages,
                            config.categories, config.priorities)

    def read(self, raw: RawMail, alive: Callable[[], object] = lambda: None,
             meanwhile: Callable[[], str] = lambda: "") -> Reading:
        """Read `raw` (the CPU-bound part, before any transaction), within the budget.

        `alive` is called while the reading worker starts; `meanwhile` runs
        once the worker has the message, while it reads; a reason it returns
        refuses the message (see `Reader.read`).
        """
        if self.reader is None:
            refused = meanwhile()
            return Reading(refused=refused) if refused else reading.read(raw.data, self.rules)
        return self.reader.read(raw.data, alive, meanwhile)

    def process(
        self,
        raw: RawMail,
        *,
        answer: bool = True,
        on_commit: Callable[[Session], None] | None = None,
        tally: Tally | None = None,
    ) -> Outcome:
        """Read `raw`, then record it and its outcome in a transaction of its own;
        return the outcome.

        `answer=False` registers without a holding reply (`start = "all"`
        backfill). `on_commit` runs inside the transaction (the poll loop moves
        its cursor there). Never raises for a bad message: what cannot be
        parsed, or not within the budget, is quarantined with its reason.
        """
        read = self.read(raw)
        with transaction(self.engine) as session:
            outcome = self.process_in(session, raw, read, answer=answer, tally=tally)
            if on_commit is not None:
                on_commit(session)
        return outcome

    def process_in(
        self,
        target: Session | Connection,
        raw: RawMail,
        read: Reading,
        *,
        answer: bool = True,
        tally: Tally | None = None,
    ) -> Outcome:
        """Record `raw`, as `read` beforehand (`read()`), inside the caller's transaction,
        in a savepoint of its own.

        `target` is the caller's Session or Core connection; the writes are
        Core statements on its connection (`store.rows`), so nothing is left
        pending in a Session. A bug while handling one message rolls back only
        that message, which is then quarantined with the error as its reason
        (Mailman's shunt queue): one bad message never blocks the mailbox and
        is never lost. Database errors are not the message's fault and propagate.
        """
        conn = target.connection() if isinstance(target, Session) else target
        # Every line logged while this message is handled, here or in the modules
        # it calls (bounces, approvals), names its Message-ID and complaint.
        with logs.about():
            try:
                with savepoint(conn):
                    outcome, reference = self._process(conn, raw, read, answer)
            except SQLAlchemyError:
                raise
            except Exception as error:
                log.exception("internal error on %s/%s uid %s", raw.mailbox, raw.folder,
                              raw.uid)
                with savepoint(conn):
                    digest = hashlib.sha256(raw.data).hexdigest()
                    self._quarantine(conn, raw, digest,
                                     f"internal error: {type(error).__name__}: {error}",
                                     self.clock.now())
                outcome, reference = Outcome.QUARANTINED, ""
        if tally is not None:
            tally.add(outcome)
            if reference:
                tally.references.append(reference)
        return outcome

    # -- steps ------------------------------------------------------------------

    def _process(self, conn: Connection, raw: RawMail, read: Reading,
                 answer: bool) -> tuple[Outcome, str]:
        now = self.clock.now()
        digest = hashlib.sha256(raw.data).hexdigest()
        if read.mail is None:
            self._quarantine(conn, raw, digest, read.refused, now)
            return Outcome.QUARANTINED, ""
        mail = read.mail
        logs.tag(message_id=mail.message_id)

        original = rows.duplicate_of(
            conn,
            sha256=digest,
            message_id=mail.message_id,
            sender=mail.sender.email,
            sent_date=mail.date,
            text=mail.text,
        )
        if original is not None:
            self._store(conn, raw, digest, mail, Outcome.DUPLICATE, "duplicate", now,
                        keep_raw=False, duplicate_of=original)
            return Outcome.DUPLICATE, ""

        # A forward from a trusted forwarder is judged and threaded as its original
        # customer wrote it; the row keeps what arrived. Anyone else's forward
        # stays theirs (`PassedOn`): a forward names whoever its sender chooses.
        forward, view = read.forward, read.view
        verdict = classify(view, self._context(conn))
        if verdict.rule != "own-mail":
            # Our own letter coming back carries its own token: it is not a reply.
            routed = self.replies.recognise(conn, mail)
            if routed is not None:
                return self._reply(conn, raw, digest, mail, verdict, routed, now)
        if verdict.outcome is not Outcome.COMPLAINT:
            log.info("not a complaint: %s from %s (%s)", mail.message_id, mail.sender.email,
                     verdict.reason or verdict.rule)
            return self._not_a_complaint(conn, raw, digest, mail, verdict, now)

        speaker = Speaker.of((mail.sender.email, view.sender.email),
                             staff=mailbox_key(mail.sender.email) in self._staff_mailboxes)
        thread = self._thread(conn, view, speaker)
        existing, quoted = thread.own, thread.other
        if existing is not None:
            logs.tag(reference=existing.reference)
            row_id = self._store(conn, raw, digest, mail, Outcome.FOLLOW_UP, "thread", now,
                                 complaint_id=existing.id)
            self._keep_files(conn, existing.id, row_id, raw, read, now)
            events = self._attach(conn, existing, row_id, view, speaker, now)
            if isinstance(forward, Attribution):
                events.append(self._forwarded_event(existing.id, forward, row_id, now))
            elif isinstance(forward, PassedOn):
                events.append(self._passed_on_event(existing.id, forward, mail, row_id, now))
            if existing.state not in (ComplaintState.RESOLVED, ComplaintState.CLOSED):
                # On a settled complaint `satisfaction.on_reply` tells staff (or closes it).
                events.extend(self._tell_staff_of_follow_up(conn, raw, existing, view, now,
                                                            self._about(mail, view)))
            rows.insert_events(conn, events)
            return Outcome.FOLLOW_UP, existing.reference

        forwarder = (forward.forwarder.email
                     if isinstance(forward, (Attribution, Unattributed)) else "")
        complaint = self._register(conn, raw, read, now, forwarded_by=forwarder,
                                   linked_reference=quoted.reference if quoted else "")
        row_id = self._store(conn, raw, digest, mail, Outcome.COMPLAINT, verdict.rule, now,
                             complaint_id=complaint.id)
        self._keep_files(conn, complaint.id, row_id, raw, read, now)
        events = [
            rows.registered_event(complaint.id, reference=complaint.reference,
                                  due_at=complaint.due_at, customer_email=view.sender.email,
                                  message_row_id=row_id, now=now),
            rows.event(complaint.id, EventKind.CATEGORIZED, now=now, actor="system",
                       message_row_id=row_id, detail=complaint.sorting.detail()),
        ]
        if quoted is not None:
            events.extend(self._link(conn, raw, complaint, quoted, view, row_id, now,
                                     self._about(mail, view)))
        if isinstance(forward, Unattributed):
            events.extend(self._unattributed(conn, raw, complaint, forward, view, row_id, now))
            rows.insert_events(conn, events)
            return Outcome.COMPLAINT, complaint.reference
        if isinstance(forward, Attribution):
            events.append(self._forwarded_event(complaint.id, forward, row_id, now))
        elif isinstance(forward, PassedOn):
            events.append(self._passed_on_event(complaint.id, forward, mail, row_id, now))
        if answer:
            # A forward's holding reply threads to the original, when we have its id:
            # the customer never saw the forwarder's message.
            attributed = forward if isinstance(forward, Attribution) else None
            reply_to = attributed.message_id if attributed is not None else mail.message_id
            chain = attributed.references if attributed is not None else mail.references
            events.append(self._queue_holding(conn, raw, view, complaint, now,
                                              in_reply_to=reply_to, references=chain))
            if self.config.staff.notify:
                events += self.approvals.notify_new(conn, self._facts(raw, view, complaint),
                                                    view.text, now, self._about(mail, view))
        rows.insert_events(conn, events)
        return Outcome.COMPLAINT, complaint.reference

    def _not_a_complaint(
        self, conn: Connection, raw: RawMail, digest: str, mail: ParsedMail, verdict: Verdict,
        now: datetime,
    ) -> tuple[Outcome, str]:
        """Recorded, never answered; a bounce of our letter is attached to its complaint."""
        bounce = read_bounce(raw.data, mail) if verdict.rule in BOUNCE_RULES else None
        letters = (bounced.letters_of(conn, bounce, mail, self.config)
                   if bounce is not None else [])
        reason = verdict.reason
        complaint_id = next((x.complaint_id for x in letters if x.complaint_id), None)
        if bounce is not None:
            # Why nothing happened comes first: the summary may be cut.
            ours = "" if letters else f"; {bounced.NOT_OURS}"
            reason = f"{reason}{ours}; bounce: {bounce.summary()}"[:1000]
        row_id = self._store(conn, raw, digest, mail, verdict.outcome, verdict.rule, now,
                             reason=reason, complaint_id=complaint_id)
        reference = ""
        if complaint_id is not None:
            found = rows.complaint_by_id(conn, complaint_id)
            reference = found.reference if found is not None else ""
            logs.tag(reference=reference)
        if bounce is not None and letters:
            rows.insert_events(conn, bounced.record(conn, self.mailer, bounce, letters,
                                                    message_row_id=row_id,
                                                    mailbox=raw.mailbox, now=now))
        return verdict.outcome, reference

    def _keep_files(self, conn: Connection, complaint_id: int, row_id: int, raw: RawMail,
                    read: Reading, now: datetime) -> None:
        """The customer's files (a trusted forward's: the original customer's) are kept
        with the complaint before any letter about it is written."""
        if read.mail is not None:
            attachments.keep(conn, self.config, complaint_id, row_id, read.mail,
                             forwarded=isinstance(read.forward, Attribution),
                             raw_size=len(raw.data), now=now)

    @staticmethod
    def _facts(raw: RawMail, mail: ParsedMail, complaint: NewComplaint) -> ComplaintFacts:
        return ComplaintFacts(complaint.id, complaint.reference, ComplaintState.RECEIVED,
                              raw.mailbox, complaint.customer.email, complaint.customer.name,
                              mail.subject, complaint.language, complaint.received_at,
                              complaint.due_at)

    def _forwarded_event(
        self, complaint_id: int, forward: Attribution, row_id: int, now: datetime
    ) -> dict[str, Any]:
        log.info("forward by %s attributed to %s (%s)", forward.forwarder.email,
                 forward.customer.email, forward.source)
        return rows.event(complaint_id, EventKind.FORWARDED, now=now, actor="system",
                          message_row_id=row_id,
                          detail={"forwarder": forward.forwarder.email,
                                  "forwarder_name": forward.forwarder.name,
                                  "source": forward.source,
                                  "customer": forward.customer.email,
                                  "customer_name": forward.customer.name,
                                  "original_subject": forward.subject,
                                  "original_date": forward.date_text,
                                  "original_message_id": forward.message_id})

    @staticmethod
    def _passed_on_event(
        complaint_id: int, forward: PassedOn, mail: ParsedMail, row_id: int, now: datetime
    ) -> dict[str, Any]:
        log.info("forward by %s (not a forwarder) names %s as its author: it stays %s's",
                 mail.sender.email, forward.author.email, mail.sender.email)
        return rows.event(complaint_id, EventKind.PASSED_ON, now=now, actor="system",
                          message_row_id=row_id,
                          detail={"sender": mail.sender.email, "author": forward.author.email,
                                  "author_name": forward.author.name, "source": forward.source,
                                  "original_subject": forward.subject,
                                  "original_date": forward.date_text})

    def _unattributed(
        self, conn: Connection, raw: RawMail, complaint: NewComplaint, forward: Unattributed,
        mail: ParsedMail, row_id: int, now: datetime,
    ) -> list[dict[str, Any]]:
        """No original sender: the complaint stays the forwarder's, staff are told,
        and no holding reply goes to the forwarder."""
        log.warning("forward by %s without an original sender: %s stays with the sender",
                    forward.forwarder.email, complaint.reference)
        events = [
            rows.event(complaint.id, EventKind.FORWARD_UNATTRIBUTED, now=now, actor="system",
                       message_row_id=row_id,
                       detail={"forwarder": forward.forwarder.email, "why": forward.why}),
            rows.event(complaint.id, EventKind.LETTER_SUPPRESSED, now=now, actor="system",
                       detail={"kind": "holding", "why": "forwarded mail without its sender"}),
        ]
        events.extend(staff_notice(
            conn, self.mailer, topic="forward_unattributed", complaint_id=complaint.id,
            reference=complaint.reference, mailbox=raw.mailbox, now=now,
            forwarder=forward.forwarder.email, subject=mail.subject,
            customer_email=forward.forwarder.email))
        return events

    def _link(
        self, conn: Connection, raw: RawMail, complaint: NewComplaint,
        quoted: ComplaintRef, mail: ParsedMail, row_id: int, now: datetime, about: str,
    ) -> list[dict[str, Any]]:
        """A reference quoted by someone other than its customer: linked both ways."""
        log.info("%s quotes %s of another customer: new complaint %s, linked",
                 mail.sender.email, quoted.reference, complaint.reference)
        events = [
            rows.event(complaint.id, EventKind.LINKED, now=now, actor="system",
                       message_row_id=row_id,
                       detail={"linked_to": quoted.reference, "sender": mail.sender.email}),
            rows.event(quoted.id, EventKind.LINKED, now=now, actor="system",
                       message_row_id=row_id,
                       detail={"linked_from": complaint.reference,
                               "sender": mail.sender.email}),
        ]
        events.extend(staff_notice(
            conn, self.mailer, topic="linked", complaint_id=complaint.id,
            reference=complaint.reference, mailbox=raw.mailbox, now=now,
            linked_reference=quoted.reference, subject=mail.subject,
            customer_email=mail.sender.email, customer_name=mail.sender.name, about=about))
        return events

    def _tell_staff_of_follow_up(
        self, conn: Connection, raw: RawMail, complaint: ComplaintRef, mail: ParsedMail,
        now: datetime, about: str,
    ) -> list[dict[str, Any]]:
        # Staff writing on a complaint need no notice of their own words (and a
        # notice answered by a staff robot must not come back as another one).
        if mail.sender.email.lower() in self._staff:
            return []
        return staff_notice(
            conn, self.mailer, topic="follow_up", complaint_id=complaint.id,
            reference=complaint.reference, mailbox=raw.mailbox, now=now,
            subject=mail.subject, customer_email=mail.sender.email,
            customer_name=mail.sender.name, about=about)

    def _reply(
        self, conn: Connection, raw: RawMail, digest: str, mail: ParsedMail, verdict: Verdict,
        routed: Recognised, now: datetime,
    ) -> tuple[Outcome, str]:
        """A message carrying a reply token: an approval_reply, accepted or refused."""
        complaint = routed.complaint
        row_id = self._store(conn, raw, digest, mail, Outcome.APPROVAL_REPLY, "reply-token", now,
                             complaint_id=complaint.id if complaint is not None else None)
        automatic = ""
        if verdict.outcome is not Outcome.COMPLAINT:
            automatic = verdict.reason or verdict.rule
        self.replies.handle(conn, mail, routed, message_row_id=row_id, mailbox=raw.mailbox,
                            now=now, automatic=automatic)
        return Outcome.APPROVAL_REPLY, complaint.reference if complaint is not None else ""

    def _about(self, mail: ParsedMail, view: ParsedMail) -> str:
        """The mailbox key of whoever made us write to staff, for the per-sender limit:
        the sender, or the original customer when staff forwarded the mail (anyone
        else's forward could name a new "customer" each time)."""
        if mail.sender.email.lower() in self._staff:
            return letter_limits.key_of(self.config.limits, view.sender.email)
        return letter_limits.key_of(self.config.limits, mail.sender.email)

    def _context(self, conn: Connection) -> ClassifyContext:
        def is_ours(message_id: str) -> bool:
            # Only ids shaped like ours are looked up; a customer's id never is.
            return may_be_ours(message_id) and rows.is_our_message_id(conn, message_id)

        return ClassifyContext(own_addresses=self._own, is_our_message_id=is_ours)

    def _quarantine(
        self, conn: Connection, raw: RawMail, digest: str, reason: str, now: datetime
    ) -> None:
        log.warning("quarantined %s/%s uid %s: %s", raw.mailbox, raw.folder, raw.uid, reason)
        kept, note = self._kept_raw(raw)
        row_id = rows.insert_message(
            conn,
            mailbox=raw.mailbox, folder=raw.folder, uidvalidity=raw.uidvalidity, uid=raw.uid,
            message_id="", sha256=digest, raw=kept, size=len(raw.data), sender="",
            subject="", sent_date=None, text="", outcome=Outcome.QUARANTINED,
            rule="unparseable", reason="; ".join(filter(None, (reason, note))), received_at=now,
        )
        quarantine_rows.insert_quarantine(conn, row_id, reason, now)

    def _store(
        self,
        conn: Connection,
        raw: RawMail,
        digest: str,
        mail: ParsedMail,
        outcome: Outcome,
        rule: str,
        now: datetime,
        *,
        reason: str = "",
        keep_raw: bool = True,
        complaint_id: int | None = None,
        duplicate_of: int | None = None,
    ) -> int:
        kept, note = self._kept_raw(raw) if keep_raw else (None, "")
        return rows.insert_message(
            conn,
            mailbox=raw.mailbox, folder=raw.folder, uidvalidity=raw.uidvalidity, uid=raw.uid,
            message_id=mail.message_id, sha256=digest, raw=kept,
            size=len(raw.data), sender=mail.sender.email, subject=mail.subject,
            sent_date=mail.date, text=mail.text, outcome=outcome, rule=rule,
            reason="; ".join(filter(None, (reason, note))), complaint_id=complaint_id,
            duplicate_of=duplicate_of, received_at=now,
        )

    def _kept_raw(self, raw: RawMail) -> tuple[bytes, str]:
        """The raw bytes to store, and a note for the row when they were cut.

        Past `[limits] raw_max` only the first bytes (the headers and the start
        of the body) are stored: the message was parsed whole, so its text,
        outcome and letters are as for any other; the row's `size` keeps how
        large it was. Nothing is refused or quarantined for size alone.
        """
        cap = self.config.limits.raw_max
        if len(raw.data) <= cap:
            return raw.data, ""
        log.warning("raw mail %s/%s uid %s is %d bytes: stored only to %d ([limits] raw_max)",
                    raw.mailbox, raw.folder, raw.uid, len(raw.data), cap)
        return raw.data[:cap], rows.raw_cut_note(len(raw.data), cap)

    def _thread(self, conn: Connection, mail: ParsedMail, speaker: Speaker) -> Thread:
        """The complaint this message continues, by its headers or its reference token,
        and whether it is `speaker`'s to continue (`follow_ups`).

        A known id or reference of a complaint that is not the speaker's (nor
        staff's to write on) gives `other`: the message opens a new complaint of
        its sender, linked to that one.
        """
        named = follow_ups.named_ids(mail.in_reply_to, mail.references)
        by_ids = Thread()
        if named:
            by_ids = follow_ups.by_ids(rows.known_ids(conn, named), named, speaker)
            if by_ids.own is not None:
                return by_ids
        quoted = []
        for token in references.find_in_text(mail.subject):
            found = rows.complaint_by_reference(conn, token)
            if found is not None:
                quoted.append(found)
        by_reference = follow_ups.choose(quoted, speaker)
        if by_reference.own is not None:
            return by_reference
        return Thread(other=by_ids.other or by_reference.other)

    def _attach(
        self,
        conn: Connection,
        complaint: ComplaintRef,
        row_id: int,
        mail: ParsedMail,
        speaker: Speaker,
        now: datetime,
    ) -> list[dict[str, Any]]:
        customer = mailbox_key(complaint.customer_email) in speaker.mailboxes
        events = [rows.event(complaint.id, EventKind.FOLLOW_UP, now=now,
                             actor="customer" if customer else "staff",
                             message_row_id=row_id)]
        if complaint.state in (ComplaintState.RESOLVED, ComplaintState.CLOSED):
            events += satisfaction.on_reply(conn, self.approvals, complaint, mail, row_id, now)
        log.info("follow-up %s on %s", mail.message_id, complaint.reference)
        return events

    def _register(
        self, conn: Connection, raw: RawMail, read: Reading, now: datetime, *,
        forwarded_by: str = "", linked_reference: str = "",
    ) -> NewComplaint:
        mail, sorting, language = read.view, read.sorting, read.language
        # The category's or priority's own promise, else the [sla] default.
        due = self.calendar.add(now, sorting.resolve_within or self.config.sla.resolve_within)
        while True:
            # A clash with a reference in use comes back as None: draw again.
            reference = references.new_reference()
            complaint_id = rows.insert_complaint(
                conn,
                reference=reference, mailbox=raw.mailbox, customer_email=mail.sender.email,
                customer_name=mail.sender.name, subject=mail.subject,
                language=language, received_at=now, due_at=due, now=now,
                category=sorting.category, priority=sorting.priority,
                nudge_at=self.ladder.first_nudge(received_at=now, due_at=due),
                forwarded_by=forwarded_by, linked_reference=linked_reference,
            )
            if complaint_id is not None:
                break
        logs.tag(reference=reference)
        log.info("registered %s from %s, due %s", reference, mail.sender.email, due.isoformat())
        return NewComplaint(complaint_id, reference, Address(mail.sender.email, mail.sender.name),
                            language, now, due, sorting)

    def _queue_holding(
        self, conn: Connection, raw: RawMail, mail: ParsedMail, complaint: NewComplaint,
        now: datetime, *, in_reply_to: str, references: tuple[str, ...],
    ) -> dict[str, Any]:
        """Queue the holding reply (or log why not); return the event to write."""
        customer = complaint.customer
        if suppression.is_suppressed(conn, customer.email):
            log.warning("no holding reply to %s: the address bounced hard", customer.email)
            return rows.event(complaint.id, EventKind.LETTER_SUPPRESSED, now=now,
                              actor="system",
                              detail={"kind": "holding", "why": "address bounced hard"})
        business = self.config.business
        letter = holding_letter(
            HoldingFacts(
                business_name=business.name, customer=customer, reference=complaint.reference,
                subject=mail.subject, received_at=complaint.received_at, due_at=complaint.due_at,
                timezone=business.timezone, language=complaint.language,
                in_reply_to=in_reply_to, references=references,
                category=complaint.sorting.category, priority=complaint.sorting.priority,
            ),
            self.renderer,
        )
        queued = self.mailer.queue(conn, letter, complaint_id=complaint.id, mailbox=raw.mailbox,
                                   now=now, automatic=True)
        assert queued is not None  # a letter with a complaint always logs an event
        return queued
