"""The sender job: claim due letters from the outbox, deliver, record each fate.

Letters are claimed in this sender's name (`store.claims`); a letter held by a
sender that has died is taken over at the next send, not after the lease.
Each letter's acceptance is written down the moment the server answers,
before its connection takes the next one, so a crash re-sends at most one
letter per connection (a letter is never lost):

- PostgreSQL: letters are claimed a few dozen at a time (instances still share a
  backlog), and each acceptance is committed at once by one statement of its own
  (one round trip per letter).
- SQLite (one writer at a time, and intake holds the turn for a whole batch):
  letters are claimed many at a time, each acceptance goes to this sender's
  sent journal (`store.sent_journal`, one `write()`), and the fates are
  committed together whenever the sender next takes its turn: replies keep
  leaving while a backlog is being read.

Temporary refusals go back to the queue with back-off; permanent ones are
recorded for staff and never retried. When no connection can be made at all
(an outage) the letter in hand goes back untouched (no attempt counted, no
back-off) and sending stops until the next try, which is the probe: one log
line per outage, and the first letter accepted afterwards ends it. Letters
deferred while every attempt was failing are made due again as soon as one is
accepted, so they do not sit out their own back-off after the server is back.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy.engine import Connection, Engine

from triaged import logs
from triaged.adapters.ports import LOGIN_REFUSED, Delivery, Outgoing, Transport
from triaged.core.return_path import return_address
from triaged.domain.clock import Clock
from triaged.domain.records import LetterState
from triaged.store import letter_claims, letter_fates, rows
from triaged.store.claims import ClaimHolder
from triaged.store.db import ask_turn, each_statement_commits, turn_ready, writer
from triaged.store.letter_claims import ClaimedLetter
from triaged.store.sent_journal import Accepted, JournalFile, SentJournal, journal_folder

log = logging.getLogger("triaged.sender")

# A claimed letter whose sender's fate cannot be known is handed out again after this long.
LEASE = timedelta(minutes=5)
# Letters a SQLite sender holds claimed at most: enough to go on sending through
# a batch of intake (which holds the database meanwhile). Once no more than
# REFILL_AT are left, it asks for its next turn and goes on sending; the turn
# (its fates written, more letters claimed) is taken once it has come.
CLAIMED_AT_ONCE = 200
REFILL_AT = 100
# Letters a PostgreSQL sender holds claimed at most: one claim serves many letters,
# and instances still share a backlog (another instance may take the rest). It
# claims again once half of them have been handed out.
CLAIMED_AHEAD = 32
# Letters one `send_due` tries at most: the drain goes on with another round.
ROUND = 1000
SUPPRESSED = "not sent: the address bounced hard before (suppressed)"
# Failed attempts in a row, with no letter accepted between them, that mean the
# server itself is in trouble rather than one letter or one address.
FAILING_RUN = 2
# Letters remembered for release when the server recovers (beyond: their own back-off).
REMEMBERED = 10_000
# A server that accepts connections and never answers costs the whole timeout at
# each try, and the send job is stuck meanwhile (the watchdog stops its pings).
# After an outage found that slowly, the next probe waits half as long as the
# failed try took (at most this many seconds) instead of starting again at once
# for a send asked for meanwhile; a server that refuses at once is tried at every
# send: it costs nothing.
PROBE_PAUSE_MAX = 30.0
SLOW_TRY = 1.0


class Sender:
    def __init__(
        self, engine: Engine, clock: Clock, transport: Transport, *, max_attempts: int,
        return_key: bytes | None = None,
    ) -> None:
        """`return_key` (see `return_path`): each letter's envelope sender is its own
        return address; None sends from the letter's From address."""
        self.engine = engine
        self.return_key = return_key
        self.clock = clock
        self.transport = transport
        self.max_attempts = max_attempts
        self.claims = ClaimHolder(engine)
        folder = journal_folder(engine)
        self.journal = None if folder is None else SentJournal(folder, self.claims.name)
        self._outage_logged = False
        self._stopped = False
        self._probe_at = 0.0  # time.monotonic() before which a hanging server is let be
        # Consecutive failed attempts, and the letters deferred during them.
        self._failures = 0
        self._deferred: set[int] = set()
        self._deferring_logged = False
        # The last drain's refused login, if any: unlike an unreachable server it
        # will not fix itself, so `run --once` reports it (exit status 1).
        self.login_refused = ""

    @property
    def smtp_down(self) -> bool:
        """Whether the SMTP server was unreachable, or refusing every letter, lately."""
        return self._outage_logged or self._deferring_logged

    def close(self) -> None:
        """Let go of the claim: letters still in flight are free for others at once."""
        self.claims.release()
        if self.journal is not None:
            self.journal.close()

    def send_due(self, limit: int = ROUND, progress: Callable[[], None] = lambda: None) -> int:
        """Deliver up to `limit` due letters; return how many were tried (0 = nothing due).

        `progress` is called after each letter's fate is recorded (a watchdog's sign of life).
        """
        if time.monotonic() < self._probe_at:
            return 0
        self.claims.hold()
        began = time.monotonic()
        with writer(self.engine) as conn, contextlib.ExitStack() as scope:
            self._stopped = False
            gone = self._senders_gone(conn)
            round_: _Round
            if self.journal is not None:
                round_ = _JournaledRound(self, conn, gone, limit, progress, self.journal)
            elif self.engine.dialect.name == "postgresql":
                recorder = scope.enter_context(each_statement_commits(self.engine))
                round_ = _RecordedRound(self, conn, gone, limit, progress, recorder)
            else:
                round_ = _Round(self, conn, gone, limit, progress)
            self.transport.deliver(round_.letters(), round_.record)
            round_.finish()
        self._pace(time.monotonic() - began)
        return round_.tried

    def _pace(self, spent: float) -> None:
        """After an outage that took `spent` seconds to find, when to probe again."""
        if self._stopped and self._outage_logged and spent >= SLOW_TRY:
            self._probe_at = time.monotonic() + min(PROBE_PAUSE_MAX, spent / 2)

    def _give_back(self, conn: Connection, letters: Iterable[ClaimedLetter],
                   due: datetime | None = None) -> None:
        """Letters claimed but never handed to a connection: back to the queue (in the
        caller's transaction), due at `due` (default now)."""
        for letter in letters:
            letter_claims.unclaim(conn, letter.id, error="", now=due or self.clock.now())

    def _senders_gone(self, conn: Connection) -> list[str]:
        """The other senders holding letters that are known to have died.

        Every sent journal is written into the database first, in the same
        transaction: a letter a sender wrote down as accepted is never taken
        over and sent again.
        """
        with conn.begin():
            journals = self._write_journals(conn)
            others = letter_claims.claim_holders(conn, besides=self.claims.name)
            gone = self.claims.gone(conn, others) if others else []
            ended = self.claims.gone(conn, {j.holder for j in journals} - {self.claims.name})
        if self.journal is not None:
            self.journal.clear()
            for found in journals:
                if found.holder in ended:
                    self.journal.forget(found)
        if gone:
            log.info("taking over the letters in flight of %d sender(s) no longer "
                     "running", len(gone))
        return gone

    def _write_journals(self, conn: Connection) -> list[JournalFile]:
        """Write what every sender's journal holds into the database (this one's too,
        left by a round that ended early); return the journals read."""
        if self.journal is None:
            return []
        journals = list(self.journal.all())
        written = letter_fates.record_sent_all(
            conn, [(a.letter_id, a.at) for j in journals for a in j.accepted])
        if written:
            log.info("recorded %d letter(s) found sent in the sent journal", written)
        return journals

    def _claim_next(self, conn: Connection, gone: list[str],
                    take_over: bool) -> tuple[ClaimedLetter | None, bool]:
        """Claim one due letter, a dead sender's (or an old lease's) first while
        `take_over`; return it (None: nothing due) and whether to keep taking over."""
        now, name = self.clock.now(), self.claims.name
        if take_over:
            found = letter_claims.take_over_letters(
                conn, now=now, limit=1, lease=LEASE, holder=name, gone=gone)
            if found:
                return found[0], True
        found = letter_claims.claim_letters(conn, now=now, limit=1, lease=LEASE, holder=name,
                                            take_over=False)
        return (found[0] if found else None), False

    def _mail_from(self, letter: ClaimedLetter) -> str:
        sender = envelope_sender(letter.raw)
        if self.return_key is None or "@" not in sender:
            return sender
        return return_address(sender, letter.id, self.return_key)

    def drain(self, limit: int = ROUND, progress: Callable[[], None] = lambda: None) -> int:
        """Send until nothing is due; return the number of delivery attempts."""
        total = 0
        self.login_refused = ""
        while (tried := self.send_due(limit, progress)) > 0:
            total += tried
            if self._outage_logged:
                # The server is away: the next send is the probe, not a busy loop.
                break
        return total

    def _record(self, conn: Connection, letter: ClaimedLetter, delivery: Delivery) -> None:
        """Record `letter`'s fate in the caller's transaction (committed before its
        connection sends the next letter: a crash re-sends at most one per connection)."""
        now = self.clock.now()
        if delivery.accepted:
            letter_fates.record_sent(conn, letter, now=now)
            self._accepted(conn)
            return
        if delivery.outage:
            self._stopped = True
            letter_claims.unclaim(conn, letter.id, error=delivery.error, now=now)
            self._failures += 1
            if delivery.outage == LOGIN_REFUSED:
                self.login_refused = delivery.error
            if not self._outage_logged:
                log.error("%s; letters stay queued and are sent as soon as it answers",
                          delivery.error)
                self._outage_logged = True
            return
        state = letter_fates.record_failed(conn, letter.id, now=now, error=delivery.error,
                                           permanent=delivery.permanent,
                                           max_attempts=self.max_attempts)
        self._failures += 1
        if state == LetterState.QUEUED and len(self._deferred) < REMEMBERED:
            self._deferred.add(letter.id)
        if state == LetterState.FAILED:
            log.error("letter %s to %s failed for good: %s", letter.message_id, letter.to_email,
                      delivery.error, extra=self._about(conn, letter))
        elif self._failures >= FAILING_RUN and not self._outage_logged:
            if not self._deferring_logged:
                log.error("SMTP server refusing every letter lately (%s); they stay queued "
                          "and are sent as soon as it accepts one", delivery.error)
                self._deferring_logged = True
        else:
            log.warning("letter %s to %s deferred: %s", letter.message_id, letter.to_email,
                        delivery.error, extra=self._about(conn, letter))

    @property
    def _releasing(self) -> bool:
        """Whether the next acceptance makes deferred letters due (a database write)."""
        return self._failures >= FAILING_RUN and bool(self._deferred)

    def _accepted(self, conn: Connection) -> None:
        """A letter went out: an outage or a run of refusals is over."""
        if self._releasing:
            released = letter_claims.release_backoff(conn, sorted(self._deferred),
                                                     now=self.clock.now())
            if released:
                log.info("%d letter(s) deferred while the server was failing are due now",
                         released)
        if self._outage_logged:
            log.info("SMTP server reachable again")
        elif self._deferring_logged:
            log.info("SMTP server accepting letters again")
        self._outage_logged = self._deferring_logged = False
        self._failures = 0
        self._deferred.clear()

    def _about(self, conn: Connection, letter: ClaimedLetter) -> dict[str, str]:
        """The log fields of a line about `letter` (looked up only on these rare lines)."""
        reference = ""
        if letter.complaint_id is not None:
            found = rows.complaint_by_id(conn, letter.complaint_id)
            reference = found.reference if found is not None else ""
        return logs.fields(reference=reference, message_id=letter.message_id)


class _Round:
    """One `send_due`: the letters claimed and not yet recorded, and the next one.
    Used as it is on a SQLite database with no folder for a sent journal (in memory).

    Each letter's fate is recorded and the next letter claimed in one
    transaction (one commit per letter, not two). The next letter is only
    leased then: its MAIL FROM starts after that commit, so a crash still
    leaves at most one letter per connection sent and not recorded. Only the
    connection that just recorded takes it (the transport asks for its next
    letter right after the record, with nothing in between).
    """

    def __init__(self, sender: Sender, conn: Connection, gone: list[str], limit: int,
                 progress: Callable[[], None]) -> None:
        self.sender, self.conn, self.gone, self.limit = sender, conn, gone, limit
        self.progress = progress
        self.in_hand: dict[int, ClaimedLetter] = {}  # claimed, fate not yet recorded
        self.tried = 0
        self.take_over = True  # until no letter of a dead sender (or an old lease) is left
        self.next: ClaimedLetter | None = None

    def letters(self) -> Iterator[Outgoing]:
        sender = self.sender
        while not sender._stopped:
            letter, self.next = self.next, None
            if letter is None:
                with self.conn.begin():
                    letter = self._claim()
                if letter is None:
                    return
            outgoing = self._outgoing(letter)
            if outgoing is not None:
                yield outgoing

    def _outgoing(self, letter: ClaimedLetter) -> Outgoing | None:
        """What to hand a connection; None for a letter queued before its address
        bounced hard, which is recorded as failed and never sent."""
        if letter.suppressed:
            with self.conn.begin():
                self.sender._record(self.conn, self.in_hand.pop(letter.id),
                                    Delivery(letter.id, accepted=False, permanent=True,
                                             error=SUPPRESSED))
            return None
        return Outgoing(letter.id, self.sender._mail_from(letter), letter.to_email, letter.raw)

    def record(self, delivery: Delivery) -> None:
        with self.conn.begin():
            self.sender._record(self.conn, self.in_hand.pop(delivery.letter_id), delivery)
            if not self.sender._stopped:
                self.next = self._claim()
        self.progress()

    def finish(self) -> None:
        """After delivery: letters claimed and not handed to a connection go back."""
        if self.in_hand:
            with self.conn.begin():
                self.sender._give_back(self.conn, self.in_hand.values())

    def _claim(self) -> ClaimedLetter | None:
        """Claim one due letter in the open transaction (None: none due, or the limit)."""
        if self.tried >= self.limit:
            return None
        letter, self.take_over = self.sender._claim_next(self.conn, self.gone, self.take_over)
        if letter is not None:
            self.tried += 1
            self.in_hand[letter.id] = letter
        return letter


class _AheadRound(_Round):
    """One `send_due` with letters claimed many at a time, one claim for many
    letters. Each acceptance is written down (`_written`) before its connection
    takes the next letter (the bound on duplicates). Whenever the claimed letters
    run out, or `_refill` says so, one transaction settles what was written down
    and claims the next letters. Refusals and outages are rare and committed at
    once.
    """

    at_once = CLAIMED_AT_ONCE  # letters held claimed at most

    def __init__(self, sender: Sender, conn: Connection, gone: list[str], limit: int,
                 progress: Callable[[], None]) -> None:
        super().__init__(sender, conn, gone, limit, progress)
        self.queue: deque[ClaimedLetter] = deque()  # claimed, not yet handed out
        self.claimed_at: datetime | None = None
        self.since_claim = 0  # letters handed out since the last claim

    def _refill(self) -> bool:
        """With letters still claimed: whether to claim more now."""
        raise NotImplementedError

    def letters(self) -> Iterator[Outgoing]:
        sender = self.sender
        while not sender._stopped:
            if not self.queue:
                self._turn(claim=True)  # waits for the turn: nothing else to do
                if not self.queue:
                    return
            elif self.tried < self.limit and self._refill():
                self._turn(claim=True)
            if self.queue:
                self._keep_lease()
            self.since_claim += 1
            outgoing = self._outgoing(self.queue.popleft())
            if outgoing is not None:
                yield outgoing

    def record(self, delivery: Delivery) -> None:
        sender = self.sender
        letter = self.in_hand.pop(delivery.letter_id)
        if delivery.accepted and self._written(letter):
            if sender._releasing:
                with self.conn.begin():
                    sender._accepted(self.conn)
            else:
                sender._accepted(self.conn)  # writes nothing
        else:
            # A refusal or an outage (rare), or an acceptance with nowhere to write
            # it down (a full disk, a folder of another user's): committed at once.
            with self.conn.begin():
                sender._record(self.conn, letter, delivery)
        self.progress()

    def _written(self, letter: ClaimedLetter) -> bool:
        """Write down that `letter` was accepted, for good; False: it could not be."""
        raise NotImplementedError

    def _settle(self) -> None:
        """In the turn's transaction: what was written down, into the database."""

    def _settled(self) -> None:
        """After the turn's commit."""

    def finish(self) -> None:
        self._turn(claim=False)

    def _turn(self, *, claim: bool) -> None:
        """One transaction: what was written down settled, letters not handed out back
        to the queue (`claim` False) or the next letters claimed."""
        with self.conn.begin():
            self._settle()
            if claim:
                self._claim_many()
            else:
                # Due when they were claimed, so that they keep their place before
                # a letter whose try failed meanwhile (due again at the failure):
                # the next try is another letter, as when letters were claimed singly.
                self.sender._give_back(self.conn, self.in_hand.values(), self.claimed_at)
                self.in_hand.clear()
        self._settled()

    def _claim_many(self) -> None:
        room = min(self.limit - self.tried, self.at_once - len(self.queue))
        if room <= 0:
            return
        now, name = self.sender.clock.now(), self.sender.claims.name
        found: list[ClaimedLetter] = []
        if self.take_over:
            found = letter_claims.take_over_letters(self.conn, now=now, limit=room, lease=LEASE,
                                                    holder=name, gone=self.gone)
            self.take_over = len(found) == room
        found += letter_claims.claim_letters(self.conn, now=now, limit=room - len(found),
                                             lease=LEASE, holder=name, take_over=False)
        if not self.queue:
            self.claimed_at = now  # else the lease of the older ones comes first
        self.since_claim = 0
        self.tried += len(found)
        # Letters never tried first, then the others by when they were last tried:
        # after a failed try (an outage) the next try is another letter, as when
        # letters were claimed one by one, oldest due first.
        found.sort(key=lambda letter: (letter.tried_at is not None,
                                       letter.tried_at or now, letter.id))
        for letter in found:
            self.in_hand[letter.id] = letter
            self.queue.append(letter)

    def _keep_lease(self) -> None:
        """Renew the lease on the letters still claimed once half of it has passed (a
        slow server): no other sender takes them over meanwhile."""
        now = self.sender.clock.now()
        if self.claimed_at is None or now - self.claimed_at < LEASE / 2:
            return
        with self.conn.begin():
            letter_claims.extend_lease(self.conn, list(self.in_hand),
                                       holder=self.sender.claims.name, until=now + LEASE)
        self.claimed_at = now


class _JournaledRound(_AheadRound):
    """On SQLite: each acceptance is a line in the sent journal, and the turn writes
    the journaled fates into the database (then clears the journal). The sender
    need not wait for the single writer's turn to go on sending."""

    def __init__(self, sender: Sender, conn: Connection, gone: list[str], limit: int,
                 progress: Callable[[], None], journal: SentJournal) -> None:
        super().__init__(sender, conn, gone, limit, progress)
        self.journal = journal
        self.accepted: list[Accepted] = []  # journaled, not yet in the database

    def _refill(self) -> bool:
        # Once they run low: the turn asked for without waiting, and taken once it
        # has come (intake may hold it).
        if len(self.queue) > REFILL_AT:
            return False
        ask_turn(self.conn)
        return turn_ready(self.conn)

    def _written(self, letter: ClaimedLetter) -> bool:
        accepted = Accepted(letter.id, self.sender.clock.now())
        try:
            self.journal.add(accepted)
        except OSError as error:
            if not self.journal.failing:
                log.error("cannot write the sent journal %s (%s); recording each letter "
                          "in the database instead", self.journal.path, error)
                self.journal.failing = True
            return False
        self.journal.failing = False
        self.accepted.append(accepted)
        return True

    def _settle(self) -> None:
        letter_fates.record_sent_all(self.conn, [(a.letter_id, a.at) for a in self.accepted])

    def _settled(self) -> None:
        self.accepted.clear()
        self.journal.clear()


class _RecordedRound(_AheadRound):
    """On PostgreSQL: each acceptance is recorded at once by one statement that
    commits on its own (`recorder`, a connection of the round's): one round trip
    per letter, where a transaction with the next letter's claim took four. A
    journal cannot serve here: another instance, maybe on another machine, takes
    a dead one's letters over and must find every acceptance in the database."""

    at_once = CLAIMED_AHEAD

    def __init__(self, sender: Sender, conn: Connection, gone: list[str], limit: int,
                 progress: Callable[[], None], recorder: Connection) -> None:
        super().__init__(sender, conn, gone, limit, progress)
        self.recorder = recorder

    def _refill(self) -> bool:
        # Once half have been handed out. Not sooner, though the database can be
        # written at once: while the sender keeps up with intake few letters are due
        # at a time, and a claim per letter would bring the transaction per letter back.
        return self.since_claim >= self.at_once // 2

    def _written(self, letter: ClaimedLetter) -> bool:
        letter_fates.record_sent(self.recorder, letter, now=self.sender.clock.now())
        return True


def envelope_sender(raw: bytes) -> str:
    """The From address of a composed letter: our mailbox, where bounces come back.

    Reads only the unfolded From line (a full header parse costs more than the
    rest of recording a delivery).
    """
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in re.split(rb"\r?\n(?![ \t])", head):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"from":
            unfolded = re.sub(rb"\r?\n[ \t]", b" ", value).decode("utf-8", "replace")
            return _address_in(unfolded)
    return ""


@functools.lru_cache(maxsize=64)
def _address_in(value: str) -> str:
    """The address of a From value: our letters carry a handful of them, and parsing
    the same one again for each letter took about 4 % of the sender's time."""
    return parseaddr(value)[1]
