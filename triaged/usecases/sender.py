"""The sender job: claim due letters from the outbox, deliver, record each fate.

Each letter's outcome is committed the moment the server answers, so a crash
re-sends at most the letters whose acceptance had not yet been written down
(a letter is never lost, and sent twice only in that window). Temporary
refusals go back to the queue with back-off; permanent ones are recorded for
staff and never retried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import timedelta
from email.utils import parseaddr

from sqlalchemy.engine import Connection, Engine

from triaged import logs
from triaged.adapters.ports import LOGIN_REFUSED, Delivery, Outgoing, Transport
from triaged.core.return_path import return_address
from triaged.domain.clock import Clock
from triaged.domain.records import LetterState
from triaged.store import outbox_rows, rows, suppression
from triaged.store.db import writer
from triaged.store.outbox_rows import ClaimedLetter

log = logging.getLogger("triaged.sender")

# A claimed letter whose sender died is handed out again after this long.
LEASE = timedelta(minutes=5)
SUPPRESSED = "not sent: the address bounced hard before (suppressed)"


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
        self._outage_logged = False
        # The last drain's refused login, if any: unlike an unreachable server it
        # will not fix itself, so `run --once` reports it (exit status 1).
        self.login_refused = ""

    @property
    def smtp_down(self) -> bool:
        """Whether the SMTP server was unreachable at the last attempt."""
        return self._outage_logged

    def send_due(self, limit: int = 200, progress: Callable[[], None] = lambda: None) -> int:
        """Deliver up to `limit` due letters; return how many were tried (0 = nothing due).

        `progress` is called after each letter's fate is recorded (a watchdog's sign of life).
        """
        with writer(self.engine) as conn:
            with conn.begin():
                letters = outbox_rows.claim_letters(conn, now=self.clock.now(), limit=limit,
                                                    lease=LEASE)
            if not letters:
                return 0
            by_id = {letter.id: letter for letter in letters}
            # A letter queued before its address bounced hard is never sent.
            with conn.begin():
                stopped = suppression.suppressed_among(conn, (x.to_email for x in letters))
            for letter in letters:
                if letter.to_email.lower() in stopped:
                    self._record(conn, letter, Delivery(letter.id, accepted=False, permanent=True,
                                                        error=SUPPRESSED))
            outgoing = [
                Outgoing(letter.id, self._mail_from(letter), letter.to_email, letter.raw)
                for letter in letters
                if letter.to_email.lower() not in stopped
            ]
            def record(delivery: Delivery) -> None:
                self._record(conn, by_id[delivery.letter_id], delivery)
                progress()

            self.transport.deliver(outgoing, record)
        return len(letters)

    def _mail_from(self, letter: ClaimedLetter) -> str:
        sender = envelope_sender(letter.raw)
        if self.return_key is None or "@" not in sender:
            return sender
        return return_address(sender, letter.id, self.return_key)

    def drain(self, limit: int = 200, progress: Callable[[], None] = lambda: None) -> int:
        """Send until nothing is due; return the number of delivery attempts."""
        total = 0
        self.login_refused = ""
        while (tried := self.send_due(limit, progress)) > 0:
            total += tried
            if self._outage_logged:
                # The server is away: the rest waits for its back-off, not a busy loop.
                break
        return total

    def _record(self, conn: Connection, letter: ClaimedLetter, delivery: Delivery) -> None:
        # One short transaction per letter, committed before the next letter can
        # be accepted: a crash re-sends at most the one letter not yet recorded.
        now = self.clock.now()
        if delivery.accepted:
            with conn.begin():
                outbox_rows.record_sent(conn, letter, now=now)
            if self._outage_logged:
                log.info("SMTP server reachable again")
                self._outage_logged = False
            return
        with conn.begin():
            state = outbox_rows.record_failed(conn, letter.id, now=now, error=delivery.error,
                                              permanent=delivery.permanent,
                                              max_attempts=self.max_attempts)
        if state == LetterState.FAILED:
            log.error("letter %s to %s failed for good: %s", letter.message_id, letter.to_email,
                      delivery.error, extra=self._about(conn, letter))
        elif delivery.outage:
            if delivery.outage == LOGIN_REFUSED:
                self.login_refused = delivery.error
            if not self._outage_logged:
                log.error("%s; letters stay queued and are retried with back-off",
                          delivery.error)
                self._outage_logged = True
        else:
            log.warning("letter %s to %s deferred: %s", letter.message_id, letter.to_email,
                        delivery.error, extra=self._about(conn, letter))

    def _about(self, conn: Connection, letter: ClaimedLetter) -> dict[str, str]:
        """The log fields of a line about `letter` (looked up only on these rare lines)."""
        reference = ""
        if letter.complaint_id is not None:
            with conn.begin():
                found = rows.complaint_by_id(conn, letter.complaint_id)
            reference = found.reference if found is not None else ""
        return logs.fields(reference=reference, message_id=letter.message_id)


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
            return parseaddr(unfolded)[1]
    return ""
