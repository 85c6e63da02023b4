"""Staff digests: the notices held back about one sender's mail, in one letter.

Past `[limits] staff_notices_per_hour` notices to a staff address about one
sender's mail, the rest are stored as `held` letters (`letter_limits`). Once the
oldest held one is an hour old, the next run lists them all — every complaint's
reference and subject — in one digest to that address, and marks them
`digested`. Nothing is lost: each complaint stays registered and listed.

The digest is an internal letter like the others (`Auto-Submitted:
auto-generated`, no reply token): an answer to it is our own thread coming
back, never a complaint or a command.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from triaged.domain.clock import Clock
from triaged.domain.records import Address, LetterKind
from triaged.store import outbox_rows
from triaged.store.db import write_transaction
from triaged.store.journal import Journal
from triaged.usecases.letter_limits import HOUR_WINDOW
from triaged.usecases.mailer import Mailer

log = logging.getLogger("triaged.staff_digests")

# A digest is read on a phone: each subject is cut to this many characters.
SUBJECT_CHARACTERS = 80


@dataclass(frozen=True)
class DigestEntry:
    reference: str
    subject: str


def shorten(subject: str) -> str:
    subject = " ".join(subject.split())
    if len(subject) <= SUBJECT_CHARACTERS:
        return subject
    return subject[:SUBJECT_CHARACTERS - 1].rstrip() + "…"


class StaffDigests:
    def __init__(self, engine: Engine, mailer: Mailer, clock: Clock) -> None:
        self.engine = engine
        self.mailer = mailer
        self.clock = clock

    def run(self) -> int:
        """Queue one digest per staff address and sender whose oldest held notice is an
        hour old; return how many were queued."""
        now = self.clock.now()
        with write_transaction(self.engine) as conn, Journal(conn) as journal:
            held = outbox_rows.held_notices(conn)
            groups: dict[tuple[str, str], list[outbox_rows.HeldNotice]] = defaultdict(list)
            for notice in held:
                groups[(notice.to_email.lower(), notice.about_key)].append(notice)
            queued = 0
            for (to_email, about), notices in groups.items():
                if notices[0].created_at > now - HOUR_WINDOW:
                    continue
                message_id = self.mailer.message_id_for("")
                found = outbox_rows.digest_held(conn, [n.id for n in notices],
                                                digest=message_id)
                entries = list(dict.fromkeys(DigestEntry(ref, shorten(subject))
                                             for ref, subject in found))
                if not entries:
                    continue
                context = {
                    "business_name": self.mailer.config.business.name,
                    "sender": about, "count": len(entries),
                    "limit": self.mailer.config.limits.staff_notices_per_hour,
                    "items": [{"reference": e.reference, "subject": e.subject}
                              for e in entries],
                }
                letter = self.mailer.internal_letter(LetterKind.STAFF_DIGEST,
                                                     Address(to_email), context)
                self.mailer.queue(journal, letter, complaint_id=None, mailbox="", now=now,
                                  message_id=message_id)
                log.info("staff digest to %s: %d complaints from %s", to_email, len(entries),
                         about)
                queued += 1
        return queued
