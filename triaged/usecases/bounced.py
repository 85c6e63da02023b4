"""A bounce of one of our letters: link it, fail the letter, stop the address, tell staff.

A bounce of one of our own letters is attached to its complaint and flags a
delivery failure for staff. The bounce itself stays a recorded non-complaint
and is never answered (classification already decided that); this module only
does what the bounce means for the letters it cites. It runs in intake's
transaction, so the message row, the failed letter, the suppression and the
notices commit together.

Anyone can write a "delivery report" to the support address, so a report
counts only for a letter it proves it is about (see `return_path`): it came
back to that letter's own return address (a MAC only we can make), or it
returns that letter's exact Message-ID *and* names the address the letter
went to. A report that cites no letter of ours changes nothing; the
failed address a report names is never enough on its own.

The business's own addresses (`staff.notify`, `staff.forwarders`, managers,
the mailboxes) are never suppressed: a failure opens an alert instead, which
makes `triaged health` fail, and the other staff and managers are told once.
A notice never goes to an address with an open alert or a suppression, and
an address opens an alert once until mail reaches it again, so notices about
failures cannot loop.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Connection

from triaged.config.records import Config
from triaged.core.parse.bounces import Bounce, FailedRecipient
from triaged.core.return_path import cited_letters, return_key
from triaged.domain.events import Event
from triaged.domain.mailbox_key import mailbox_key, same_mailbox
from triaged.domain.records import Address, EventKind, LetterKind, LetterState, ParsedMail
from triaged.store import outbox_rows, rows, suppression
from triaged.store.journal import Journal
from triaged.store.outbox_rows import LetterRef
from triaged.usecases.mailer import Mailer
from triaged.usecases.notices import staff_notice

log = logging.getLogger("triaged.bounced")

# Where a returned report shows the address it was sent to: the receiving
# server's Delivered-To / X-Original-To, the reporting MTA's To.
_RETURN_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To",
                   "X-Delivered-To")
# A letter the server never accepted cannot have bounced.
_HANDED_OVER = frozenset({LetterState.SENT.value, LetterState.FAILED.value})
NOT_OURS = "cites no letter of ours (not our return address, no Message-ID of ours " \
           "for the failed recipient): nothing done"


def bounce_key(config: Config) -> bytes | None:
    """The return-address key, from `approval.secret_file`; None without one."""
    secret = config.approval.secret
    return return_key(secret.reveal()) if secret is not None else None


def letters_of(
    conn: Connection, bounce: Bounce, mail: ParsedMail, config: Config
) -> list[LetterRef]:
    """Our letters the bounce proves it is about (none for a report anyone could forge)."""
    addresses = [a.email for a in mail.to]
    wanted = {name.lower() for name in _RETURN_HEADERS}
    addresses.extend(value for name, value in mail.headers if name.lower() in wanted)
    mailboxes = [m.address for m in config.mailboxes]
    found = outbox_rows.letters_with_ids(
        conn, cited_letters(addresses, mailboxes, bounce_key(config)))
    found.extend(
        letter for letter in outbox_rows.letters_with_message_ids(conn, list(bounce.returned_ids))
        if any(same_mailbox(r.email, letter.to_email) for r in bounce.recipients))
    return [letter for letter in {x.id: x for x in found}.values()
            if letter.state in _HANDED_OVER]


def _recipient(bounce: Bounce, letter: LetterRef) -> FailedRecipient:
    for recipient in bounce.recipients:
        if same_mailbox(recipient.email, letter.to_email):
            return recipient
    if len(bounce.recipients) == 1:
        # Came back to the letter's own return address: forwarding hops rewrite
        # the recipient, and the one named is ours.
        only = bounce.recipients[0]
        return FailedRecipient(letter.to_email, only.status, only.action, only.diagnostic)
    return FailedRecipient(letter.to_email, "", "failed", "no status given")


def record(
    journal: Journal,
    mailer: Mailer,
    bounce: Bounce,
    letters: list[LetterRef],
    *,
    message_row_id: int,
    mailbox: str,
    now: datetime,
) -> None:
    """Apply the bounce to each letter, recording what it did on `journal`."""
    conn = journal.conn
    own = {mailbox_key(address) for address in mailer.config.own_addresses()}
    for letter in letters:
        failed = _recipient(bounce, letter)
        kind = "delayed" if failed.delayed else ("hard" if failed.hard else "soft")
        detail = {"letter_id": letter.id, "kind": letter.kind, "to": letter.to_email,
                  "message_id": letter.message_id, "status": failed.status,
                  "diagnostic": failed.diagnostic, "bounce": kind, "form": bounce.form}
        journal.record(Event(letter.complaint_id, EventKind.LETTER_BOUNCED, now, "system",
                             message_row_id, detail))
        if failed.delayed:
            # Still being tried by the remote server: nothing has failed yet.
            continue
        log.warning("letter %s to %s bounced (%s %s)", letter.message_id, letter.to_email, kind,
                    failed.status)
        error = f"bounced ({kind}): {failed.status} {failed.diagnostic}".strip()
        outbox_rows.fail_letter(conn, letter.id, error=error, now=now)
        if mailbox_key(letter.to_email) in own:
            _alert(journal, mailer, letter, failed, error, message_row_id, mailbox, now)
            continue
        if failed.hard:
            _suppress(journal, letter, error, message_row_id, now)
        _tell_staff(journal, mailer, letter, failed, kind, mailbox, now)


def _suppress(
    journal: Journal, letter: LetterRef, error: str, message_row_id: int, now: datetime
) -> None:
    conn = journal.conn
    if not suppression.suppress(conn, letter.to_email, reason=error,
                                message_row_id=message_row_id, now=now):
        return
    stopped = outbox_rows.fail_waiting_to(conn, letter.to_email,
                                          error=f"not sent: {error}", now=now)
    journal.record(Event(letter.complaint_id, EventKind.ADDRESS_SUPPRESSED, now, "system",
                         message_row_id, {"address": letter.to_email.lower(), "why": error,
                                          "letters_stopped": stopped}))


def _alert(
    journal: Journal, mailer: Mailer, letter: LetterRef, failed: FailedRecipient, error: str,
    message_row_id: int, mailbox: str, now: datetime,
) -> None:
    """One of the business's own addresses failed: an alert, and the others told once."""
    conn = journal.conn
    log.error("mail to %s, an address of the business, is not delivered: %s; it stays "
              "unsuppressed and `triaged health` reports it", letter.to_email, error)
    opened = suppression.raise_alert(conn, letter.to_email, reason=error,
                                     message_row_id=message_row_id, now=now)
    journal.record(Event(letter.complaint_id, EventKind.ADDRESS_FAILING, now, "system",
                         message_row_id,
                         {"address": letter.to_email.lower(), "why": error, "new": opened}))
    if not opened:
        return
    config = mailer.config
    reference = ""
    if letter.complaint_id is not None:
        complaint = rows.complaint_by_id(conn, letter.complaint_id)
        reference = complaint.reference if complaint is not None else ""
    owners = [*config.staff.notify, *(m.email for m in config.managers)]
    candidates = {mailbox_key(a): a for a in owners if not same_mailbox(a, letter.to_email)}
    # Never to an address whose own mail fails or is stopped: no notice can bounce
    # into another notice to the same place.
    troubled = {mailbox_key(e) for e in suppression.troubled_among(conn, candidates.values())}
    context = {"business_name": config.business.name, "topic": "unreachable",
               "reference": reference, "customer_email": "", "customer_name": "",
               "subject": letter.subject, "forwarder": "", "linked_reference": "",
               "letter_kind": letter.kind,
               "detail": " ".join(x for x in (failed.status, failed.diagnostic) if x) or error,
               "hard": failed.hard, "address": letter.to_email}
    for key, address in candidates.items():
        if key in troubled:
            continue
        notice = mailer.internal_letter(LetterKind.STAFF_NOTICE, Address(address), context)
        mailer.queue(journal, notice, complaint_id=letter.complaint_id, mailbox=mailbox,
                     now=now)


def _tell_staff(
    journal: Journal, mailer: Mailer, letter: LetterRef, failed: FailedRecipient, kind: str,
    mailbox: str, now: datetime,
) -> None:
    """Staff hear that a *customer* was never reached."""
    if letter.complaint_id is None:
        return
    complaint = rows.complaint_by_id(journal.conn, letter.complaint_id)
    if complaint is None or not same_mailbox(complaint.customer_email, letter.to_email):
        return
    detail = " ".join(x for x in (failed.status, failed.diagnostic) if x) or kind
    staff_notice(journal, mailer, topic="bounced", complaint_id=complaint.id,
                        reference=complaint.reference, mailbox=mailbox, now=now,
                        customer_email=letter.to_email, subject=letter.subject,
                        letter_kind=letter.kind, detail=detail, hard=failed.hard)
