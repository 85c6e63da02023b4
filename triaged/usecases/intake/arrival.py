"""One message on its way through intake: its bytes, its reading, its transaction.

An `Arrival` carries what every step of one message shares: the connection and
the `Journal` of its savepoint, the raw mail and its hash, the reading done
before the transaction, and the moment it is handled. `store` writes the
message's one row (`rows.IncomingRow`), whatever branch it took.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from triaged.core.reading import Reading
from triaged.domain.records import Outcome, ParsedMail, RawMail
from triaged.store import rows
from triaged.store.journal import Journal

log = logging.getLogger("triaged.intake")


@dataclass(frozen=True)
class Arrival:
    """One message in its savepoint; its events go on `journal`, its row through `store`."""

    raw: RawMail
    read: Reading
    now: datetime
    journal: Journal
    raw_max: int
    # False registers without a holding reply (`start = "all"` backfill).
    answer: bool = True

    @property
    def conn(self) -> Connection:
        return self.journal.conn

    @property
    def mail(self) -> ParsedMail:
        """The mail as it arrived (every step but quarantine has one)."""
        assert self.read.mail is not None
        return self.read.mail

    def store(self, outcome: Outcome, rule: str, *, reason: str = "", keep_raw: bool = True,
              complaint_id: int | None = None, duplicate_of: int | None = None,
              parsed: bool = True) -> int:
        """Store the message's row and return its id; `reason` gains the note of a cut.

        `parsed=False` stores the bytes alone, as for a message never read."""
        return rows.insert_message(self.conn, self.row(
            outcome, rule, reason=reason, keep_raw=keep_raw, complaint_id=complaint_id,
            duplicate_of=duplicate_of, parsed=parsed))

    def row(self, outcome: Outcome, rule: str, *, reason: str = "", keep_raw: bool = True,
            complaint_id: int | None = None, duplicate_of: int | None = None,
            parsed: bool = True) -> rows.IncomingRow:
        """The row `store` writes (a new complaint's goes in with the complaint)."""
        raw, mail = self.raw, self.read.mail if parsed else None
        kept, note = self._kept_raw() if keep_raw else (None, "")
        return rows.IncomingRow(
            mailbox=raw.mailbox, folder=raw.folder, uidvalidity=raw.uidvalidity, uid=raw.uid,
            sha256=self.raw.sha256, raw=kept, size=len(raw.data), outcome=outcome, rule=rule,
            received_at=self.now, reason="; ".join(filter(None, (reason, note))),
            complaint_id=complaint_id, duplicate_of=duplicate_of,
            message_id=mail.message_id if mail else "",
            sender=mail.sender.email if mail else "",
            subject=mail.subject if mail else "",
            sent_date=mail.date if mail else None,
            text=mail.text if mail else "",
        )

    def _kept_raw(self) -> tuple[bytes, str]:
        """The raw bytes to store, and a note for the row when they were cut.

        Past `[limits] raw_max` only the first bytes (the headers and the start
        of the body) are stored: the message was parsed whole, so its text,
        outcome and letters are as for any other; the row's `size` keeps how
        large it was. Nothing is refused or quarantined for size alone.
        """
        raw, cap = self.raw, self.raw_max
        if len(raw.data) <= cap:
            return raw.data, ""
        log.warning("raw mail %s/%s uid %s is %d bytes: stored only to %d ([limits] raw_max)",
                    raw.mailbox, raw.folder, raw.uid, len(raw.data), cap)
        return raw.data[:cap], rows.raw_cut_note(len(raw.data), cap)
