"""Duplicates: a copy of a message already stored is recorded and goes no further.

Writes one message row (outcome `duplicate`, no raw bytes, `duplicate_of` its
original); no event, no letter, no complaint touched.
"""

from __future__ import annotations

from triaged.domain.records import Outcome
from triaged.store import rows
from triaged.usecases.intake.arrival import Arrival


def original_of(msg: Arrival) -> int | None:
    """The stored original this message repeats (`rows.duplicate_of`), or None."""
    mail = msg.mail
    return rows.duplicate_of(msg.conn, sha256=msg.raw.sha256, message_id=mail.message_id,
                             sender=mail.sender.email, sent_date=mail.date, text=mail.text)


def record(msg: Arrival, original: int) -> tuple[Outcome, str]:
    msg.store(Outcome.DUPLICATE, "duplicate", keep_raw=False, duplicate_of=original)
    return Outcome.DUPLICATE, ""
