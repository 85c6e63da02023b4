"""A bounce of one of our letters: link it, fail the letter, stop the address, tell staff.

SPEC §2: "A bounce of one of our own letters is attached to its complaint and
flags a delivery failure for staff." The bounce itself stays a recorded
non-complaint and is never answered (classification already decided that);
this module only does what the bounce means for the letters it names. It runs
in intake's transaction, so the message row, the failed letter, the
suppression and the staff notice commit together.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from triaged.approval.outgoing import Mailer
from triaged.domain import EventKind
from triaged.notices import staff_notice
from triaged.parse.bounces import Bounce, FailedRecipient
from triaged.store import outbox_rows, rows, suppression
from triaged.store.outbox_rows import LetterRef

log = logging.getLogger("triaged.bounced")

# A bounce that names no Message-ID is matched to the newest letter sent to the
# failed address within this window.
RECIPIENT_WINDOW = timedelta(days=14)


def letters_of(conn: Connection, bounce: Bounce, now: datetime) -> list[LetterRef]:
    """Our letters the bounce is about: by returned Message-ID, else by failed address."""
    found = outbox_rows.letters_with_message_ids(conn, list(bounce.returned_ids))
    if found:
        return found
    by_address = (outbox_rows.latest_letter_to(conn, r.email, now - RECIPIENT_WINDOW)
                  for r in bounce.recipients)
    return list({letter.id: letter for letter in by_address if letter is not None}.values())


def _recipient(bounce: Bounce, letter: LetterRef) -> FailedRecipient:
    for recipient in bounce.recipients:
        if recipient.email.lower() == letter.to_email.lower():
            return recipient
    if len(bounce.recipients) == 1:
        # Forwarding hops rewrite the address; one named recipient is ours.
        only = bounce.recipients[0]
        return FailedRecipient(letter.to_email, only.status, only.action, only.diagnostic)
    return FailedRecipient(letter.to_email, "", "failed", "no status given")


def record(
    conn: Connection,
    mailer: Mailer,
    bounce: Bounce,
    letters: list[LetterRef],
    *,
    message_row_id: int,
    mailbox: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """Apply the bounce to each letter; return the events to log."""
    events: list[dict[str, Any]] = []
    for letter in letters:
        failed = _recipient(bounce, letter)
        kind = "delayed" if failed.delayed else ("hard" if failed.hard else "soft")
        detail = {"letter_id": letter.id, "kind": letter.kind, "to": letter.to_email,
                  "message_id": letter.message_id, "status": failed.status,
                  "diagnostic": failed.diagnostic, "bounce": kind, "form": bounce.form}
        events.append(rows.event(letter.complaint_id, EventKind.LETTER_BOUNCED, now=now,
                                 actor="system", message_row_id=message_row_id, detail=detail))
        if failed.delayed:
            # Still being tried by the remote server: nothing has failed yet.
            continue
        log.warning("letter %s to %s bounced (%s %s)", letter.message_id, letter.to_email, kind,
                    failed.status)
        error = f"bounced ({kind}): {failed.status} {failed.diagnostic}".strip()
        outbox_rows.fail_letter(conn, letter.id, error=error, now=now)
        if failed.hard:
            events.extend(_suppress(conn, letter, error, message_row_id, now))
        events.extend(_tell_staff(conn, mailer, letter, failed, kind, mailbox, now))
    return events


def _suppress(
    conn: Connection, letter: LetterRef, error: str, message_row_id: int, now: datetime
) -> list[dict[str, Any]]:
    if not suppression.suppress(conn, letter.to_email, reason=error,
                                message_row_id=message_row_id, now=now):
        return []
    stopped = outbox_rows.fail_waiting_to(conn, letter.to_email,
                                          error=f"not sent: {error}", now=now)
    return [rows.event(letter.complaint_id, EventKind.ADDRESS_SUPPRESSED, now=now,
                       actor="system", message_row_id=message_row_id,
                       detail={"address": letter.to_email.lower(), "why": error,
                               "letters_stopped": stopped})]


def _tell_staff(
    conn: Connection, mailer: Mailer, letter: LetterRef, failed: FailedRecipient, kind: str,
    mailbox: str, now: datetime,
) -> list[dict[str, Any]]:
    """Staff hear that a *customer* was never reached; a bounced staff letter tells nobody
    (else a dead staff address would bounce notices about its own bounces)."""
    if letter.complaint_id is None:
        return []
    complaint = rows.complaint_by_id(conn, letter.complaint_id)
    if complaint is None or complaint.customer_email.lower() != letter.to_email.lower():
        return []
    detail = " ".join(x for x in (failed.status, failed.diagnostic) if x) or kind
    return staff_notice(conn, mailer, topic="bounced", complaint_id=complaint.id,
                        reference=complaint.reference, mailbox=mailbox, now=now,
                        customer_email=letter.to_email, subject=letter.subject,
                        letter_kind=letter.kind, detail=detail, hard=failed.hard)
