"""Drafts, approval requests and decisions: the use cases behind the final letter.

Every function works on the caller's open connection, inside the caller's
transaction (intake's for replies by email, the CLI's for console commands),
so a state change, its events and the letters it causes commit together.
They raise `Refused(reason)` before writing anything when the complaint is
not in a state that allows the step.

The path: `record_draft` (staff's resolution, by email or `triaged draft`)
stores a new version, moves the complaint to `awaiting_approval` and sends an
approval request to each lowest-level manager, each with a token bound to that
manager and that version. `approve` queues the final letter to the customer
and resolves the complaint; `reject` returns it to `in_progress` and tells
staff why; an edited letter is a new version approved at once by its editor.

By email, staff answer a new-complaint notification (or a rejection notice)
with the resolution text, any number of times, each reply a new version (the
`draft` purpose); a manager answers an approval request with APPROVE, REJECT
<reason> or the edited letter, once and only for the current version (the
`approve` purpose). `Approvals.purposes()` gives both to the app's registry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from triaged import logs
from triaged.config.records import Config
from triaged.core.decision import EDIT_END, EDIT_START, parse_decision
from triaged.core.history import history_entries
from triaged.core.letters.customer import language_name, local_date_words, promised_words
from triaged.core.letters.excerpt import text_excerpt
from triaged.core.letters.final import ClosingFacts, final_letter
from triaged.core.reply_text import new_text
from triaged.domain.events import Event
from triaged.domain.records import (
    Address,
    ComplaintState,
    EventKind,
    Letter,
    LetterFile,
    LetterKind,
)
from triaged.replies.purposes import Purpose, Refused, ReplyContext
from triaged.store import approval_rows, rows
from triaged.store.approval_rows import ComplaintFacts, DraftRow
from triaged.store.attachment_rows import OUT, NewFile
from triaged.store.journal import Journal
from triaged.usecases import attachments
from triaged.usecases.mailer import Mailer

log = logging.getLogger("triaged.approval")

APPROVE, DRAFT = "approve", "draft"
CLOSED_STATES = (ComplaintState.RESOLVED, ComplaintState.CLOSED)


def managers(config: Config) -> Sequence[str]:
    """Every configured manager's address: who may answer approval requests."""
    return [m.email for m in config.managers]


def staff(config: Config) -> Sequence[str]:
    """`staff.notify`: who may reply to a new-complaint notification with a draft."""
    return list(config.staff.notify)


def customer_label(complaint: ComplaintFacts) -> str:
    if complaint.customer_name:
        return f"{complaint.customer_name} <{complaint.customer_email}>"
    return complaint.customer_email


class Approvals:
    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self.config = mailer.config

    def purposes(self) -> tuple[Purpose, ...]:
        """The replies by email this flow understands: staff's drafts, managers' decisions."""
        return (Purpose(DRAFT, senders=staff, handle=self._draft_reply, single_use=False),
                Purpose(APPROVE, senders=managers, handle=self._decision_reply,
                        current_version=approval_rows.current_version))

    # -- letters -----------------------------------------------------------------

    def _when(self, at: datetime) -> str:
        day, time = local_date_words(at, self.config.business.timezone,
                                     self.mailer.internal_language(LetterKind.APPROVAL_REQUEST))
        return f"{day}, {time}"

    def _promise(self, due: datetime) -> str:
        day, time = promised_words(due, self.config.business.timezone,
                                   self.mailer.internal_language(LetterKind.NEW_COMPLAINT))
        return f"{day}, {time}"

    def final_letter(self, conn: Connection, complaint: ComplaintFacts, text: str,
                     version: int | None = None) -> Letter:
        """The letter the customer will get for `text`, exactly as it will be sent: with
        the files staff attached to draft `version`."""
        latest, chain = approval_rows.conversation(conn, complaint)
        facts = ClosingFacts(
            business_name=self.config.business.name,
            customer=Address(complaint.customer_email, complaint.customer_name),
            reference=complaint.reference, subject=complaint.subject,
            language=complaint.language, in_reply_to=latest,
            references=tuple(i for i in chain if i != latest), resolution=text)
        letter = final_letter(facts, self.mailer.renderer)
        if version is None:
            return letter
        return replace(letter, files=self._staff_files(conn, complaint, version).files)

    def _staff_files(self, conn: Connection, complaint: ComplaintFacts,
                     version: int) -> attachments.Carried:
        return attachments.for_letter(conn, self.config, complaint.id, complaint.reference,
                                      direction=OUT, draft_version=version)

    def _customer(self, conn: Connection, complaint: ComplaintFacts) -> attachments.Carried:
        """The customer's files and earlier complaints, as every staff letter shows them."""
        carried = attachments.for_letter(conn, self.config, complaint.id, complaint.reference)
        context = {**(carried.context or {}),
                   **attachments.history(conn, complaint.id, self._when)}
        return attachments.Carried(carried.files, context)

    def _base_context(self, complaint: ComplaintFacts) -> dict[str, Any]:
        return {
            "business_name": self.config.business.name,
            "reference": complaint.reference,
            "customer": complaint.customer_email,
            "customer_label": customer_label(complaint),
            "subject": complaint.subject,
            # Staff write the resolution into a letter in the customer's language.
            "language_name": self._language_name(complaint),
        }

    def _language_name(self, complaint: ComplaintFacts) -> str:
        """The customer's letter language, named in the language staff read ("Korean")."""
        tag = self.mailer.renderer.pick_language(complaint.language, LetterKind.FINAL)
        return language_name(tag, self.mailer.internal_language(LetterKind.NEW_COMPLAINT))

    def _staff_letter(self, journal: Journal, complaint: ComplaintFacts, kind: LetterKind,
                      context: Mapping[str, Any], now: datetime, about: str = "",
                      files: tuple[LetterFile, ...] = ()) -> None:
        """One letter to each `staff.notify` address, each able to answer with a draft.

        `about`: the mailbox key of the sender whose mail this is about, for the
        per-sender limit on notices (`letter_limits`); "" for no limit."""
        can_reply = self.config.approval.secret is not None
        for address in self.config.staff.notify:
            letter = self.mailer.internal_letter(kind, Address(address),
                                                 {**context, "can_reply": can_reply})
            letter = replace(letter, files=files)
            if can_reply:
                token = self.mailer.make_token(DRAFT, complaint.id, 0, address, now)
                self.mailer.queue_with_token(journal, letter, token, complaint_id=complaint.id,
                                             mailbox=complaint.mailbox, now=now, about=about)
            else:
                self.mailer.queue(journal, letter, complaint_id=complaint.id,
                                  mailbox=complaint.mailbox, now=now, about=about)

    def notify_new(self, journal: Journal, complaint: ComplaintFacts, text: str,
                   now: datetime, about: str = "") -> None:
        """Tell `staff.notify` of a new complaint, with the customer's text.

        Past the per-sender limit for the sender keyed `about`, the notice waits
        for the staff digest."""
        customer = self._customer(journal.conn, complaint)
        context = {**self._base_context(complaint),
                   "received": self._when(complaint.received_at),
                   "due": self._promise(complaint.due_at),
                   "complaint_text": text_excerpt(text, complaint.reference),
                   **(customer.context or {})}
        self._staff_letter(journal, complaint, LetterKind.NEW_COMPLAINT, context, now, about,
                           customer.files)

    def notify_reopened(self, journal: Journal, complaint: ComplaintFacts, text: str,
                        old_state: ComplaintState, now: datetime) -> None:
        """Tell staff the customer wrote again about a settled complaint."""
        context = {**self._base_context(complaint), "reopened": True,
                   "old_state": old_state.value, "reason": text_excerpt(text, complaint.reference),
                   "version": 0,
                   "decided_by": "",
                   **attachments.history(journal.conn, complaint.id, self._when)}
        self._staff_letter(journal, complaint, LetterKind.REJECTED, context, now)

    # -- drafting ----------------------------------------------------------------

    def record_draft(
        self, conn: Connection, complaint: ComplaintFacts, text: str, *, author: str,
        source: str, message_row_id: int | None, now: datetime,
        files: Sequence[NewFile] = (),
    ) -> DraftRow:
        """Store `text` as the next version, with the `files` to send with it, and ask
        the managers to approve it."""
        if complaint.state in CLOSED_STATES:
            raise Refused(f"complaint {complaint.reference} is {complaint.state.value}: a draft "
                          "is refused until the customer reopens it")
        if not text.strip():
            raise Refused("the resolution text is empty")
        if self.config.approval.secret is None:
            raise Refused("approval by email is not configured (approval.secret_file)")
        if not self._approvers():
            raise Refused("no [[managers]] are configured to approve the letter")
        draft = approval_rows.add_draft(conn, complaint_id=complaint.id, text=text.strip(),
                                        author=author, source=source,
                                        message_row_id=message_row_id, now=now)
        attachments.record_out(conn, complaint.id, files, message_row_id=message_row_id,
                               draft_version=draft.version, now=now)
        detail: dict[str, Any] = {"version": draft.version, "source": source}
        if files:
            detail["files"] = [f.name for f in files]
        with Journal(conn) as journal:
            journal.record(Event(complaint.id, EventKind.DRAFTED, now, author, message_row_id,
                                 detail))
            self._move(journal, complaint, ComplaintState.AWAITING_APPROVAL, author,
                       message_row_id, now)
            # Written before the request is made, so that its short history shows this draft.
            journal.flush()
            self._request(journal, complaint, draft, now)
        log.info("%s: version %d drafted by %s", complaint.reference, draft.version, author,
                 extra=logs.fields(reference=complaint.reference))
        return draft

    def _approvers(self) -> list[Address]:
        if not self.config.managers:
            return []
        lowest = min(m.level for m in self.config.managers)
        return [Address(m.email, m.name) for m in self.config.managers if m.level == lowest]

    def _move(self, journal: Journal, complaint: ComplaintFacts, target: ComplaintState,
              actor: str, message_row_id: int | None, now: datetime) -> None:
        """Walk the complaint to `target` along the allowed state changes."""
        path = {
            ComplaintState.AWAITING_APPROVAL: {
                ComplaintState.RECEIVED: [ComplaintState.IN_PROGRESS],
                ComplaintState.ACKNOWLEDGED: [ComplaintState.IN_PROGRESS],
                ComplaintState.IN_PROGRESS: [],
                ComplaintState.AWAITING_APPROVAL: None,
            },
        }.get(target, {}).get(complaint.state, [])
        if path is None:
            return
        state = complaint.state
        for step in [*path, target]:
            moved = rows.change_state(journal.conn, complaint.id, state, step, now=now,
                                      actor=actor, message_row_id=message_row_id)
            if moved is None:
                raise Refused(f"complaint {complaint.reference} changed meanwhile; try again")
            journal.record(moved)
            state = step

    def _request(self, journal: Journal, complaint: ComplaintFacts, draft: DraftRow,
                 now: datetime) -> None:
        conn = journal.conn
        final = self.final_letter(conn, complaint, draft.text, draft.version)
        customer = self._customer(conn, complaint)
        sent_with = self._staff_files(conn, complaint, draft.version)
        expires = self.mailer.token_expiry(now)
        context = {
            **self._base_context(complaint),
            "version": draft.version, "drafted_by": draft.author,
            "resolution": draft.text, "edit_start": EDIT_START, "edit_end": EDIT_END,
            "final_subject": final.subject, "final_text": final.text,
            "history": history_entries(approval_rows.events_of(conn, complaint.id),
                                       self._when),
            "complaint_text": text_excerpt(approval_rows.first_text(conn, complaint.id),
                                           complaint.reference),
            "expires": self._when(expires),
            **(customer.context or {}),
            "final_files": (sent_with.context or {}).get("files", []),
            "final_withheld": (sent_with.context or {}).get("withheld", []),
        }
        managers = self._approvers()
        for manager in managers:
            letter = self.mailer.internal_letter(LetterKind.APPROVAL_REQUEST, manager,
                                                 {**context, "manager_name": manager.name})
            letter = replace(letter, files=(*final.files, *customer.files))
            token = self.mailer.make_token(APPROVE, complaint.id, draft.version, manager.email,
                                           now)
            self.mailer.queue_with_token(journal, letter, token, complaint_id=complaint.id,
                                         mailbox=complaint.mailbox, now=now)
        journal.record(Event(complaint.id, EventKind.APPROVAL_REQUESTED, now, "system",
                             detail={"version": draft.version,
                                     "managers": [m.email for m in managers],
                                     "expires_at": expires}))

    # -- decisions ---------------------------------------------------------------

    def _awaiting(self, conn: Connection, complaint: ComplaintFacts) -> DraftRow:
        draft = approval_rows.current_draft(conn, complaint.id)
        if complaint.state is not ComplaintState.AWAITING_APPROVAL or draft is None:
            raise Refused(f"complaint {complaint.reference} is {complaint.state.value}, not "
                          "awaiting approval")
        return draft

    def approve(
        self, conn: Connection, complaint: ComplaintFacts, *, by: str, via: str,
        message_row_id: int | None, now: datetime, edited: str = "",
    ) -> dict[str, Any]:
        """Send the current version (or `edited`, as a new version) and resolve the complaint."""
        with Journal(conn) as journal:
            detail = self._approve(journal, complaint, by=by, via=via,
                                   message_row_id=message_row_id, now=now, edited=edited)
        log.info("%s: version %d approved by %s (%s)", complaint.reference, detail["version"],
                 by, via, extra=logs.fields(reference=complaint.reference))
        return detail

    def _approve(
        self, journal: Journal, complaint: ComplaintFacts, *, by: str, via: str,
        message_row_id: int | None, now: datetime, edited: str,
    ) -> dict[str, Any]:
        conn = journal.conn
        draft = self._awaiting(conn, complaint)
        # An edited letter keeps the files staff attached to the version it edits.
        files_version = draft.version
        if edited:
            draft = approval_rows.add_draft(conn, complaint_id=complaint.id, text=edited,
                                            author=by, source="edit",
                                            message_row_id=message_row_id, now=now)
            journal.record(Event(complaint.id, EventKind.DRAFTED, now, by, message_row_id,
                                 {"version": draft.version, "source": "edit"}))
        letter = self.final_letter(conn, complaint, draft.text, files_version)
        self.mailer.queue(journal, letter, complaint_id=complaint.id,
                          mailbox=complaint.mailbox, now=now)
        journal.record(self._decided(conn, complaint, ComplaintState.RESOLVED, by=by,
                                     message_row_id=message_row_id, now=now,
                                     detail={"approved_version": draft.version}))
        detail = {"version": draft.version, "by": by, "via": via, "edited": bool(edited),
                  "language": letter.language}
        journal.record(Event(complaint.id, EventKind.APPROVED, now, by, message_row_id, detail))
        if via == "email":
            context = {**self._base_context(complaint), "version": draft.version,
                       "edited": bool(edited),
                       **attachments.history(conn, complaint.id, self._when)}
            confirmation = self.mailer.internal_letter(LetterKind.APPROVED, Address(by), context)
            self.mailer.queue(journal, confirmation, complaint_id=complaint.id,
                              mailbox=complaint.mailbox, now=now)
        return detail

    def reject(
        self, conn: Connection, complaint: ComplaintFacts, *, by: str, via: str, reason: str,
        message_row_id: int | None, now: datetime,
    ) -> dict[str, Any]:
        """Back to `in_progress`, and staff told why."""
        draft = self._awaiting(conn, complaint)
        if not reason.strip():
            raise Refused("a rejection needs a reason")
        moved = self._decided(conn, complaint, ComplaintState.IN_PROGRESS, by=by,
                              message_row_id=message_row_id, now=now,
                              detail={"rejected_version": draft.version})
        detail = {"version": draft.version, "by": by, "via": via, "reason": reason.strip()}
        context = {**self._base_context(complaint), "reopened": False, "decided_by": by,
                   "version": draft.version, "reason": reason.strip(),
                   **attachments.history(conn, complaint.id, self._when)}
        with Journal(conn) as journal:
            journal.record(moved, Event(complaint.id, EventKind.REJECTED, now, by,
                                        message_row_id, detail))
            self._staff_letter(journal, complaint, LetterKind.REJECTED, context, now)
        log.info("%s: version %d rejected by %s (%s)", complaint.reference, draft.version, by,
                 via, extra=logs.fields(reference=complaint.reference))
        return detail

    @staticmethod
    def _decided(
        conn: Connection, complaint: ComplaintFacts, to: ComplaintState, *, by: str,
        message_row_id: int | None, now: datetime, detail: dict[str, Any],
    ) -> Event:
        """Move the complaint out of `awaiting_approval`; its `state_changed` event.

        Refused when another decision moved it first (the two raced).
        """
        moved = rows.change_state(conn, complaint.id, ComplaintState.AWAITING_APPROVAL, to,
                                  now=now, actor=by, message_row_id=message_row_id,
                                  detail=detail)
        if moved is None:
            raise Refused(f"complaint {complaint.reference} changed meanwhile; try again")
        return moved
    # -- replies by email ----------------------------------------------------------

    def _draft_reply(self, ctx: ReplyContext) -> Mapping[str, Any]:
        text = new_text(ctx.mail.text)
        if not text:
            raise Refused("no resolution text was found above the quoted message")
        draft = self.record_draft(ctx.conn, _facts(ctx), text, author=ctx.sender,
                                  source="email", message_row_id=ctx.message_row_id, now=ctx.now,
                                  files=attachments.staff_files(ctx.mail.attachments))
        return {"decision": "draft", "draft_version": draft.version}

    def _decision_reply(self, ctx: ReplyContext) -> Mapping[str, Any]:
        # parse_decision raises ApprovalRefused (Refused) with the reason for the manager.
        decision = parse_decision(ctx.mail.text)
        facts = _facts(ctx)
        if decision.kind == "reject":
            self.reject(ctx.conn, facts, by=ctx.sender, via="email", reason=decision.text,
                        message_row_id=ctx.message_row_id, now=ctx.now)
        else:
            self.approve(ctx.conn, facts, by=ctx.sender, via="email", edited=decision.text,
                         message_row_id=ctx.message_row_id, now=ctx.now)
        return {"decision": decision.kind}


def _facts(ctx: ReplyContext) -> ComplaintFacts:
    facts = approval_rows.complaint_facts(ctx.conn, ctx.complaint.id)
    if facts is None:
        raise Refused("the complaint no longer exists")
    return facts
