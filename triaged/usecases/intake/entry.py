"""Intake: one incoming message → one committed outcome.

`Intake.process(raw)` handles exactly one message in one transaction: the raw
bytes, the cursor step, the classification, the complaint and its holding
letter in the outbox are committed together or not at all. Only after that
commit does the poll loop mark the message processed on the server, so a crash
at any point either leaves the message to be read again (and recognised by its
hash) or leaves a committed outcome whose server-side move is redone from
`MailSource.leftovers()`.

Which branch a message takes, and what each writes, is in `pipeline`; every
event a branch causes is recorded on the message's `Journal` and written once,
before its savepoint is released.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from triaged import logs
from triaged.core import reading
from triaged.core.ladder import Ladder, ladder_of
from triaged.core.reading import Reading, ReadingRules
from triaged.domain.clock import Clock
from triaged.domain.records import Outcome, RawMail
from triaged.replies.routing import ReplyRouter
from triaged.store import automatic_letters, rows
from triaged.store.db import savepoint, transaction
from triaged.store.journal import Journal, Later
from triaged.store.ownership import lock_until_commit, takes_locks
from triaged.usecases import letter_limits
from triaged.usecases.approval import Approvals
from triaged.usecases.intake import pipeline, quarantine
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk
from triaged.usecases.mailer import Mailer
from triaged.usecases.reader import Reader

log = logging.getLogger("triaged.intake")


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

    def merge(self, other: Tally) -> None:
        """Add what `other` counted (a batch's tally, once its transaction committed)."""
        for outcome, count in other.counts.items():
            self.counts[outcome] = self.counts.get(outcome, 0) + count
        self.references.extend(other.references)


class Redo(Exception):
    """A message failed while written without a savepoint of its own: the caller rolls
    its whole transaction back and writes the messages again, each in a savepoint."""

    def __init__(self, raw: RawMail, error: Exception) -> None:
        super().__init__(f"{raw.mailbox}/{raw.folder} uid {raw.uid}: "
                         f"{type(error).__name__}: {error}")


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
        self.engine = engine
        self.config = mailer.config
        self.clock = clock
        self.mailer = mailer
        self.desk = Desk.of(mailer, approvals, replies,
                            ladder or ladder_of(mailer.config, mailer.calendar))
        # Without a worker (a caller that needs no budget) messages are read in-process.
        self.reader = reader

    @property
    def rules(self) -> ReadingRules:
        """What reading a message needs from the config (sent to the reading worker)."""
        config = self.config
        return ReadingRules(self.desk.forwards, config.business.language,
                            self.mailer.renderer.languages, config.categories,
                            config.priorities)

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
        guarded: bool = True,
        later: Later | None = None,
    ) -> Outcome:
        """Record `raw`, as `read` beforehand (`read()`), inside the caller's transaction,
        in a savepoint of its own.

        `target` is the caller's Session or Core connection; the writes are
        Core statements on its connection (`store.rows`), so nothing is left
        pending in a Session. A bug while handling one message rolls back only
        that message, which is then quarantined with the error as its reason
        (Mailman's shunt queue): one bad message never blocks the mailbox and
        is never lost. Database errors are not the message's fault and propagate.

        `guarded=False` writes without the savepoint (two statements fewer per
        message, a batch's worth of them saved) and raises `Redo` on a bug: the
        caller then rolls the whole transaction back and writes it again guarded.
        Unguarded, the message's events may wait in the batch's `later`, written
        by the caller before its commit.
        """
        conn = target.connection() if isinstance(target, Session) else target
        # Every line logged while this message is handled, here or in the modules
        # it calls (bounces, approvals), names its Message-ID and complaint.
        with logs.about():
            try:
                with (savepoint(conn) if guarded else nullcontext(),
                      Journal(conn, None if guarded else later) as journal):
                    outcome, reference = pipeline.run(self.desk,
                                                      self._arrival(journal, raw, read, answer))
            except SQLAlchemyError:
                raise
            except Exception as error:
                if not guarded:
                    raise Redo(raw, error) from error
                log.exception("internal error on %s/%s uid %s", raw.mailbox, raw.folder,
                              raw.uid)
                outcome, reference = self._after_bug(conn, raw, read, error)
        if tally is not None:
            tally.add(outcome)
            if reference:
                tally.references.append(reference)
        return outcome

    def lock_batch(self, conn: Connection, raws: Sequence[RawMail],
                   readings: Sequence[Reading]) -> None:
        """Take the locks a batch's messages will ask for, all in one statement: each
        message's copies (duplicates) and its sender's mailbox (the limits on
        automatic letters; PostgreSQL only, held until the commit); then read the
        originals its messages may repeat, in one statement too."""
        locks = takes_locks(conn)
        names, copies = [], []
        for raw, read in zip(raws, readings, strict=True):
            if read.mail is None:
                continue
            copies.append((raw.sha256, read.mail.message_id))
            if locks:
                names.append(rows.mail_lock(read.mail.message_id, copies[-1][0]))
                names.append(automatic_letters.mailbox_lock(
                    letter_limits.key_of(self.config.limits, read.view.sender.email)))
        if locks:
            lock_until_commit(conn, *names)
        rows.read_originals_ahead(conn, copies)

    def _after_bug(self, conn: Connection, raw: RawMail, read: Reading,
                   error: Exception) -> tuple[Outcome, str]:
        """Quarantine a message whose handling failed, in a savepoint of its own."""
        with savepoint(conn), Journal(conn) as journal:
            return quarantine.park(self._arrival(journal, raw, read, False),
                                   f"internal error: {type(error).__name__}: {error}")

    def _arrival(self, journal: Journal, raw: RawMail, read: Reading, answer: bool) -> Arrival:
        return Arrival(raw, read, self.clock.now(),
                       journal, self.config.limits.raw_max, answer)
