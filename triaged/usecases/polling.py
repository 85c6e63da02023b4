"""The poll job: read one mailbox until nothing new is left.

The cursor (UIDVALIDITY, last UID) moves in the same transaction as the
fetched batch of messages it covers, so what is committed and where reading
resumes can never disagree. Marking on the server (move or flag) happens after
that commit; if it fails, `leftovers()` finds those messages on the next poll.

Each message is read (parsed, its language detected, sorted) by the pool of
reading workers, within its budget, before the batch's transaction begins; a
message still being read after a moment is marked meanwhile (`store.attempts`),
so a restarted process can tell the message it was stopped on.

The first batch is small and the next ones grow, so the first complaints are
committed (and their holding replies can leave) within moments of the start,
whatever the backlog; a batch is also bounded in bytes, so memory stays flat
whatever the messages weigh.

With several instances on one PostgreSQL, a poller reads its mailbox only while it
holds the mailbox's lock (`store.ownership`); otherwise a poll does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import Connection

from triaged.adapters.ports import Batch, Cursor, MailSource
from triaged.config.records import MailboxConfig
from triaged.core.reading import Reading
from triaged.domain.records import RawMail
from triaged.store import attempts, cursor_rows
from triaged.store.db import transaction, write_transaction
from triaged.store.journal import Later
from triaged.store.ownership import MailboxLock
from triaged.usecases.intake import Intake, Redo, Tally

log = logging.getLogger("triaged.ingest")

# How many messages one fetch brings: the first few, then twice as many each
# time up to BATCH; and about as many as BATCH_BYTES of mail, so memory stays flat
# on a 10 000-message backlog whatever its messages weigh.
FIRST_BATCH = 8
BATCH = 200
BATCH_BYTES = 8 * 1024 * 1024


def next_batch(count: int, weight: int) -> int:
    """How many messages to fetch after a batch of `count` that weighed `weight` bytes."""
    grown = min(BATCH, count * 2)
    if weight > 0:
        grown = min(grown, max(1, count * BATCH_BYTES // weight))
    return max(1, grown)


INCLUDE_EXISTING = "triaged run --once --include-existing"


def left_alone_hint(mailbox: str, count: int, *, before_first_run: bool = False) -> str:
    """What the operator reads about mail `start = "now"` leaves alone, and how to take it."""
    messages = "1 message was" if count == 1 else f"{count} messages were"
    if before_first_run:
        messages = "1 message is" if count == 1 else f"{count} messages are"
        return (f'{mailbox}: {messages} already in the folder; the first run leaves '
                f'{"it" if count == 1 else "them"} alone (start = "now"). To register '
                f'{"it" if count == 1 else "them"} without replies, set start = "all" before '
                f"the first run; to answer {'it' if count == 1 else 'them'}, run "
                f"`{INCLUDE_EXISTING}`")
    return (f"{mailbox}: {messages} already in the mailbox when triaged first looked; "
            f'{"it was" if count == 1 else "they were"} left alone (start = "now"). To answer '
            f"{'it' if count == 1 else 'them'} as new mail, run `{INCLUDE_EXISTING}`")


def mailbox_identity(mailbox: MailboxConfig) -> str:
    """What makes two configured mailboxes the same one: the Maildir, or the IMAP host,
    user and folder (not the name, nor the port: 993 and 143 reach the same mail)."""
    if mailbox.maildir:
        return f"maildir:{Path(mailbox.maildir).resolve()}"
    user = (mailbox.username or mailbox.address).lower()
    return f"imap:{user}@{mailbox.host.lower()}/{mailbox.folder}"


@dataclass
class MailboxPoller:
    """Polls one mailbox through its source; keeps whether a reconcile is owed."""

    intake: Intake
    mailbox: MailboxConfig
    source: MailSource
    reconciled: bool = False
    lock: MailboxLock = field(init=False)
    # Whether this process has begun a message of this folder (see `store.attempts`).
    begun: bool = False
    # Messages this process left alone at first contact (start = "now").
    left_alone: int = 0
    # Set for one poll (`run --once --include-existing`): read the mail left alone too.
    include_existing: bool = False
    # Marks are written one at a time: `begun` and the stop they count go together.
    _marking: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.lock = MailboxLock(self.intake.engine, mailbox_identity(self.mailbox),
                                self.mailbox.name)

    @property
    def owned(self) -> bool:
        """Whether the last poll found the mailbox ours to read (see `store.ownership`)."""
        return self.lock.is_held

    def close(self) -> None:
        """Close the connection to the mailbox and let other instances read it."""
        self.source.close()
        self.lock.release()

    def poll(self, tally: Tally | None = None, stop: Callable[[], bool] = lambda: False) -> Tally:
        """Read every new message; raise TransientError when the server is away.

        `stop` is asked after each batch (and while a reading worker starts):
        when it says so, the messages read so far are committed and marked
        processed, and the poll returns (SIGTERM drains).
        """
        tally = tally if tally is not None else Tally()
        try:
            if not self.lock.held():
                # Another instance reads it; moves it leaves owed are redone by
                # whoever reads it next, us included once we take over.
                self.reconciled = False
                return tally
            self._poll(tally, stop)
        except Exception:
            # Whatever went wrong, the next poll first redoes the owed moves.
            self.reconciled = False
            raise
        return tally

    def _poll(self, tally: Tally, stop: Callable[[], bool]) -> None:
        """Fetch, read and commit batch after batch; the next batch is fetched and
        handed to the reading workers before this one is written, so parsing
        and writing overlap."""
        if self.intake.reader is not None:
            self.intake.reader.start()  # warms up while the server answers
        cursor = self._cursor()
        if self.include_existing:
            cursor = self._include_existing(cursor)
        self._reconcile(cursor)
        size = FIRST_BATCH
        batch = self.source.fetch_new(cursor, size)
        reading = self._read_batch(batch.messages, stop)
        while True:
            size = next_batch(max(size, len(batch.messages)),
                              sum(len(raw.data) for raw in batch.messages))
            step = self._restart_on_reset(cursor, batch) if batch.reset else cursor
            done, read = list(batch.messages), reading()
            # UIDs expunged between SEARCH and FETCH still move the cursor on.
            after = replace(step, last_uid=max([step.last_uid, batch.cursor.last_uid,
                                                *(raw.uid for raw in done)]))
            following = None
            if batch.messages and not stop():
                following = self.source.fetch_new(after, size)
                reading = self._read_batch(following.messages, stop)
            written: Cursor | None = None
            if done or batch.reset:
                step = written = self._commit(done, read, step, tally)
            if following is None:
                if after != written:
                    # Also the last, empty batch: every poll ends with one small write,
                    # so `polled_at` says when the mailbox last answered (health).
                    self._save(after)
                return
            if after != written:
                self._save(after)
            cursor, batch = after, following

    def _restart_on_reset(self, cursor: Cursor, batch: Batch) -> Cursor:
        """The cursor to write after a UIDVALIDITY change: the folder is read again."""
        log.warning("%s: UIDVALIDITY changed from %d to %d; reading the folder again",
                    self.mailbox.name, cursor.uidvalidity, batch.cursor.uidvalidity)
        fresh = batch.cursor
        return Cursor(fresh.uidvalidity, fresh.floor, fresh.floor,
                      left_alone_before=cursor.left_alone_before)

    def _reconcile(self, cursor: Cursor) -> None:
        """Once per process: move on the server what was committed before a stop."""
        if self.reconciled:
            return
        leftovers = self.source.leftovers(cursor)
        if leftovers:
            log.info("%s: marking %d committed message(s) processed after an interruption",
                     self.mailbox.name, len(leftovers))
            self.source.mark_keys(leftovers)
        self.reconciled = True

    def _read_batch(self, messages: Sequence[RawMail],
                    stop: Callable[[], bool]) -> Callable[[], list[Reading]]:
        """Start reading a fetched batch; the returned call waits for its readings.

        Each message is read first, within its budget and outside any
        transaction, so a slow one never holds the database's write lock. The
        workers read the batch together, while the batch before it is written.
        """
        def meanwhile(i: int) -> Callable[[], str]:
            return lambda: self._mark(messages[i])

        if self.intake.reader is not None:
            return self.intake.reader.read_all([raw.data for raw in messages], stop, meanwhile)
        read = [self.intake.read(raw, stop, meanwhile(i)) for i, raw in enumerate(messages)]
        return lambda: read

    def _commit(self, done: list[RawMail], read: list[Reading], step: Cursor,
                tally: Tally) -> Cursor:
        """Record the messages read and move the cursor past them; the cursor written.

        One transaction per fetched batch, one savepoint per message: the
        messages, their marks' removal and the cursor step commit together,
        and only then are they moved on the server. The batch is first written
        without the savepoints; only when a message fails is it all rolled back
        and written again with them, so that the failing one alone is undone
        (and quarantined).
        """
        try:
            written = self._write_batch(done, read, step, tally, guarded=False)
        except Redo as redo:
            log.warning("%s: a message failed while its batch was written (%s); the batch "
                        "was rolled back and is written again message by message (what was "
                        "logged for its messages before was not kept)", self.mailbox.name, redo)
            written = self._write_batch(done, read, step, tally, guarded=True)
        self.source.mark_processed(done)
        return written

    def _write_batch(self, done: list[RawMail], read: list[Reading], step: Cursor,
                     tally: Tally, *, guarded: bool) -> Cursor:
        counted, later = Tally(), Later()
        with write_transaction(self.intake.engine) as conn:
            self.intake.lock_batch(conn, done, read)
            for raw, reading in zip(done, read, strict=True):
                step = replace(step, last_uid=max(step.last_uid, raw.uid))
                self.intake.process_in(conn, raw, reading, answer=self._answer(raw, step),
                                       tally=counted, guarded=guarded, later=later)
            # The batch's events in one statement (unguarded, they waited for it).
            later.write(conn)
            # Also the marks an earlier, stopped process left on messages read quickly now.
            attempts.forget(conn, done)
            self._write(conn, step)
        tally.merge(counted)
        return step

    def _mark(self, raw: RawMail) -> str:
        """Mark `raw` in flight (it is taking a while to read); a reason to refuse it
        unread when the process stopped while handling it too often already.

        The mark commits while the worker reads on: this process cannot be
        stopped by the message in those milliseconds, as the reading is the
        worker's. A stop while the batch is written counts against the message
        marked last.
        """
        with self._marking:
            with write_transaction(self.intake.engine) as conn:
                mark = attempts.begin(conn, raw, raw.sha256, self.intake.clock.now(),
                                      first=not self.begun)
            self.begun = True
        if mark.stops < self.intake.config.limits.stops_before_quarantine:
            return ""
        log.warning("%s: uid %s stopped the process %d times; quarantined unread",
                    self.mailbox.name, raw.uid, mark.stops)
        return (f"the process stopped {mark.stops} times while reading it; "
                "quarantined so the mailbox keeps moving")

    def _answer(self, raw: RawMail, cursor: Cursor) -> bool:
        # start = "all": what was in the folder at first contact is registered
        # silently; the customers wrote long ago and get no surprise reply.
        return not (raw.uid and raw.uid <= cursor.quiet_until)

    def _cursor(self) -> Cursor:
        with transaction(self.intake.engine) as session:
            row = cursor_rows.read_cursor(session.connection(), self.mailbox.name,
                                          self.mailbox.folder)
            if row is not None:
                return Cursor(row.uidvalidity, row.last_uid, row.floor, row.quiet_until,
                              row.left_alone_before)
        first = self.source.first_cursor(self.mailbox.start)
        if self.mailbox.start == "all":
            first = Cursor(first.uidvalidity, 0, 0, self.source.first_cursor("now").last_uid)
            log.info("%s: first contact, start=all: existing mail registered without replies",
                     self.mailbox.name)
        else:
            self.left_alone = self.source.count_left_alone(first)
            if self.left_alone and not self.include_existing:
                log.warning("%s", left_alone_hint(self.mailbox.name, self.left_alone))
            else:
                log.info("%s: first contact, start=now: the folder held no mail yet",
                         self.mailbox.name)
        self._save(first)
        return first

    def _include_existing(self, cursor: Cursor) -> Cursor:
        """The cursor rewound below the mail left alone at first contact, saved: that
        mail is read and answered like new mail; what was read since is recognised
        as a duplicate."""
        self.include_existing = False
        if cursor.floor <= 0:
            return cursor
        count = self.source.count_left_alone(cursor)
        log.info("%s: reading the %d message(s) left alone at first contact",
                 self.mailbox.name, count)
        rewound = Cursor(cursor.uidvalidity, 0)
        self._save(rewound)
        return rewound

    def _save(self, cursor: Cursor) -> None:
        with write_transaction(self.intake.engine) as conn:
            self._write(conn, cursor)

    def _write(self, conn: Connection, cursor: Cursor) -> None:
        # Every write follows an answer from the server, and a poll ends with one
        # (its last, empty batch): `polled_at` is when the mailbox was last read.
        cursor_rows.write_cursor(conn, self.mailbox.name, self.mailbox.folder,
                                 cursor.uidvalidity, cursor.last_uid, floor=cursor.floor,
                                 quiet_until=cursor.quiet_until,
                                 left_alone_before=cursor.left_alone_before,
                                 polled_at=self.intake.clock.now())
