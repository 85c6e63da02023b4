"""How much automatic mail triaged may write: the one home of the limits and their windows.

Anyone can make triaged write by sending it mail, so what it writes on its own
is bounded whoever asks (and two robots answering each other cannot loop):

- per real mailbox, at most `[limits] auto_letters_per_day` automatic letters in
  24 hours: `victim+1@`, `Victim@` and, at Gmail, `v.ictim@` are one mailbox;
- across all addresses, at most `auto_letters_per_hour` in an hour (0: no cap);
- per staff address, at most `staff_notices_per_hour` notices about one
  sender's mail in an hour; the rest are held for one digest (`staff_digests`).

Nothing automatic is written to an address that bounced hard (`suppression`),
whatever the counts.

Each check is one indexed count in the caller's transaction, so letters queued
earlier in it count too. The per-mailbox count is serialised per mailbox on
PostgreSQL (`automatic_letters.automatic_letters_since`); the overall and per-sender
counts are not, so instances writing at the same moment may each pass those
by the letters still in flight (one message per mailbox).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from triaged.config.records import LimitsConfig
from triaged.domain.events import Event
from triaged.domain.mailbox_key import mailbox_key
from triaged.store import automatic_letters

# Why nothing automatic goes to an address that bounced hard (until the operator
# lifts its suppression).
BOUNCED = "address bounced hard"
# The window of `auto_letters_per_day`.
DAY_WINDOW = timedelta(hours=24)
# The window of `auto_letters_per_hour` and `staff_notices_per_hour`; a held
# notice goes out in a digest once it is this old.
HOUR_WINDOW = timedelta(hours=1)


def key_of(limits: LimitsConfig, address: str) -> str:
    """The mailbox `address` reaches, as the limits count it."""
    return mailbox_key(address, limits.dotless_domains)


def automatic_refused(
    conn: Connection, limits: LimitsConfig, to_email: str, now: datetime
) -> str:
    """Why an automatic letter to `to_email` may not be written now; "" when it may.

    The reason is what the complaint's `letter_suppressed` event says.
    """
    suppressed, recent = automatic_letters.automatic_gate(conn, key_of(limits, to_email), to_email,
                                                          now - DAY_WINDOW)
    gate = automatic_letters.Gate(suppressed, recent)
    per_hour = limits.auto_letters_per_hour
    if per_hour and not refusal(limits, gate):
        gate = replace(gate, overall=automatic_letters.automatic_letters_overall(
            conn, now - HOUR_WINDOW, per_hour))
    return refusal(limits, gate)


def refusal(limits: LimitsConfig, gate: automatic_letters.Gate) -> str:
    """Why an automatic letter whose address and mailbox read as `gate` may not be
    written; "" when it may."""
    per_day, per_hour = limits.auto_letters_per_day, limits.auto_letters_per_hour
    if gate.suppressed:
        return BOUNCED
    if gate.recent >= per_day:
        return f"rate limit {per_day}/24h"
    if per_hour and gate.overall >= per_hour:
        return f"hourly cap {per_hour}/h on all automatic letters"
    return ""


def queue_automatic(
    conn: Connection, limits: LimitsConfig, *, complaint_id: int | None, kind: str,
    to_email: str, message_id: str, subject: str, raw: Callable[[], bytes], now: datetime,
) -> tuple[int | None, Event | None, str]:
    """Queue an automatic letter within the limits (`automatic_letters.queue_automatic_letter`,
    `raw` composing it only when needed): its id and `letter_queued` event, or
    (None, None, why not)."""
    return automatic_letters.queue_automatic_letter(
        conn, complaint_id=complaint_id, kind=kind, to_email=to_email,
        to_key=key_of(limits, to_email), message_id=message_id, subject=subject, raw=raw,
        now=now, day_since=now - DAY_WINDOW, hour_since=now - HOUR_WINDOW,
        per_hour=limits.auto_letters_per_hour, refusal=functools.partial(refusal, limits))


def notice_held(
    conn: Connection, limits: LimitsConfig, to_email: str, about_key: str, now: datetime
) -> bool:
    """Whether a notice to staff `to_email` about `about_key`'s mail waits for the digest."""
    if not about_key:
        return False
    told = automatic_letters.notices_about_since(conn, key_of(limits, to_email), about_key,
                                                 now - HOUR_WINDOW)
    return told >= limits.staff_notices_per_hour
