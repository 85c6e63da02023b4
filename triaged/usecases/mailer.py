"""Queueing letters: the one way a letter reaches the outbox, in the caller's transaction.

`Mailer` is built once by the app and passed to every use case that writes.
It is the one place that knows our address for a mailbox (`mailbox_address`),
in which language an internal letter is written (the business's, else
English), and how a token is put into a letter (Reply-To plus-address,
Message-ID, subject; see `carriers`). Every use case queues a letter with
`queue`: it applies the limits on automatic mail (`letter_limits`), composes the
message and records its event on the use case's `Journal`, so a letter is
queued in the same transaction as the change that caused it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from triaged.config.records import Config
from triaged.core.calendar import BusinessCalendar
from triaged.core.letters.compose import compose, new_message_id
from triaged.core.letters.excerpt import bounded_context
from triaged.core.letters.render import Renderer
from triaged.domain.events import Event
from triaged.domain.records import Address, EventKind, Letter, LetterKind, LetterState
from triaged.replies import carriers
from triaged.replies.tokens import make_token
from triaged.store import outbox_rows
from triaged.store.journal import Journal
from triaged.usecases import letter_limits

log = logging.getLogger("triaged.mailer")


@dataclass(frozen=True)
class Mailer:
    config: Config
    renderer: Renderer
    calendar: BusinessCalendar

    def mailbox_address(self, mailbox: str) -> str:
        """Our address for the mailbox named `mailbox`, else the first mailbox's.

        A letter about no one mailbox's mail (a digest, an escalation) passes "".
        """
        for configured in self.config.mailboxes:
            if configured.name == mailbox:
                return configured.address
        return self.config.mailboxes[0].address

    def sender(self, mailbox: str) -> Address:
        return Address(self.mailbox_address(mailbox), self.config.business.name)

    def message_id_for(self, mailbox: str) -> str:
        """A new Message-ID for a letter from `mailbox`, for a caller that must know it
        before `queue` (to record or to mark letters with it)."""
        return new_message_id(self.sender(mailbox))

    def internal_language(self, kind: str) -> str:
        return self.renderer.internal_language(kind)

    def internal_letter(
        self,
        kind: LetterKind,
        to: Address,
        context: Mapping[str, Any],
        *,
        in_reply_to: str = "",
        references: tuple[str, ...] = (),
    ) -> Letter:
        """A letter to staff or a manager, in the business's language (else English).

        Every text in `context` is bounded (`excerpt.bounded_context`): a huge
        subject or body from a sender makes a letter of bounded size.
        """
        language = self.internal_language(kind)
        reference = str(context.get("reference", ""))
        parts = self.renderer.render(language, kind, bounded_context(context, reference))
        chain = tuple(dict.fromkeys((*references, *((in_reply_to,) if in_reply_to else ()))))
        return Letter(kind=kind, to=to, subject=parts.subject, text=parts.text, html=parts.html,
                      language=language, in_reply_to=in_reply_to, references=chain,
                      auto_submitted="auto-generated")

    def token_expiry(self, now: datetime) -> datetime:
        return self.calendar.add(now, self.config.approval.token_ttl)

    def make_token(self, purpose: str, complaint_id: int, version: int, recipient: str,
                   now: datetime) -> str:
        secret = self.config.approval.secret
        if secret is None:
            raise ValueError("approval.secret_file is not configured")
        return make_token(secret.reveal(), purpose=purpose, complaint_id=complaint_id,
                          version=version, recipient=recipient,
                          expires_at=self.token_expiry(now))

    def queue(
        self,
        journal: Journal,
        letter: Letter,
        *,
        complaint_id: int | None,
        mailbox: str,
        now: datetime,
        automatic: bool = False,
        message_id: str = "",
        about: str = "",
    ) -> None:
        """Queue `letter` on the journal's transaction and record what became of it:
        `letter_queued`, or `letter_suppressed` when an automatic letter would pass a
        limit (`letter_limits`) or a notice to staff about the sender whose mailbox key
        is `about` waits for their digest (an automatic letter is never such a notice).
        `letter_queued` is only for a letter about a complaint."""
        conn, limits = journal.conn, self.config.limits
        sender = self.sender(mailbox)
        message_id = message_id or new_message_id(sender)
        if automatic:
            _, queued, why = letter_limits.queue_automatic(
                conn, limits, complaint_id=complaint_id, kind=letter.kind.value,
                to_email=letter.to.email, message_id=message_id, subject=letter.subject,
                raw=lambda: compose(letter, sender, now=now, message_id=message_id), now=now)
            if why:
                log.warning("no %s letter to %s: %s", letter.kind.value, letter.to.email, why)
                journal.record(_suppressed(complaint_id, letter, now, why))
                return
            journal.record(queued)
            return
        held = letter_limits.notice_held(conn, limits, letter.to.email, about, now)
        letter_id, queued = outbox_rows.queue_letter(
            conn, complaint_id=complaint_id, kind=letter.kind, to_email=letter.to.email,
            message_id=message_id, subject=letter.subject,
            raw=compose(letter, sender, now=now, message_id=message_id), automatic=automatic,
            now=now, to_key=letter_limits.key_of(limits, letter.to.email), about_key=about,
            state=LetterState.HELD if held else LetterState.QUEUED)
        if held:
            journal.record(_suppressed(
                complaint_id, letter, now,
                f"staff notice limit {limits.staff_notices_per_hour}/h for {about}: "
                "listed in the next staff digest", letter_id=letter_id))
            return
        journal.record(queued)

    def queue_with_token(
        self,
        journal: Journal,
        letter: Letter,
        token: str,
        *,
        complaint_id: int,
        mailbox: str,
        now: datetime,
        about: str = "",
    ) -> None:
        """Queue `letter` carrying `token` in its Reply-To, Message-ID and subject."""
        tagged = replace(
            letter,
            subject=carriers.subject_with_token(letter.subject, token),
            extra_headers=(*letter.extra_headers,
                           ("Reply-To", self.reply_address(token, mailbox))),
        )
        self.queue(journal, tagged, complaint_id=complaint_id, mailbox=mailbox, now=now,
                          message_id=self.token_message_id(token, mailbox), about=about)

    def reply_address(self, token: str, mailbox: str) -> str:
        """The address a reply to `mailbox`'s letter carrying `token` goes to."""
        return carriers.reply_address(self.mailbox_address(mailbox), token)

    def token_message_id(self, token: str, mailbox: str) -> str:
        """The Message-ID of the letter from `mailbox` that carries `token`."""
        return carriers.token_message_id(token, self.mailbox_address(mailbox))


def _suppressed(complaint_id: int | None, letter: Letter, now: datetime, why: str,
                **more: object) -> Event:
    """The `letter_suppressed` event of a letter not sent, and why."""
    return Event(complaint_id, EventKind.LETTER_SUPPRESSED, now, "system",
                 detail={"kind": letter.kind.value, "to": letter.to.email, "why": why, **more})
