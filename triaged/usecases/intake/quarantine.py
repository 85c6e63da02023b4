"""Quarantine: a message that cannot be read, or that a bug failed on, is parked.

Writes the message row (outcome `quarantined`, rule `unparseable`, the raw
bytes and the reason) and its quarantine entry; no event, no letter. Staff
replay or discard it from the console.
"""

from __future__ import annotations

import logging

from triaged.domain.records import Outcome
from triaged.store import quarantine_rows
from triaged.usecases.intake.arrival import Arrival

log = logging.getLogger("triaged.intake")


def park(msg: Arrival, reason: str) -> tuple[Outcome, str]:
    raw = msg.raw
    log.warning("quarantined %s/%s uid %s: %s", raw.mailbox, raw.folder, raw.uid, reason)
    # Parsed or not, what was read of it is not trusted: the row keeps the bytes alone.
    row_id = msg.store(Outcome.QUARANTINED, "unparseable", reason=reason, parsed=False)
    quarantine_rows.insert_quarantine(msg.conn, row_id, reason, msg.now)
    return Outcome.QUARANTINED, ""
