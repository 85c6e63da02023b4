"""What every intake step needs from the app, built once per `Intake`.

The `Desk` is plain wiring: the config, the `Mailer`, the approvals and the
reply router, and the address sets the steps judge mail by (our own
mailboxes, trusted forwarders, staff). It holds nothing about one message.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from triaged.config.records import Config
from triaged.core.classify import ClassifyContext
from triaged.core.ladder import Ladder
from triaged.core.letters.compose import may_be_ours
from triaged.core.parse.forwarded import ForwardContext
from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import ParsedMail
from triaged.replies.routing import ReplyRouter
from triaged.store import rows
from triaged.usecases import letter_limits
from triaged.usecases.approval import Approvals
from triaged.usecases.mailer import Mailer


@dataclass(frozen=True)
class Desk:
    config: Config
    mailer: Mailer
    approvals: Approvals
    replies: ReplyRouter
    ladder: Ladder
    own: frozenset[str]
    forwards: ForwardContext
    staff: frozenset[str]
    # Who may write on any complaint: staff, managers and our own mailboxes.
    staff_mailboxes: frozenset[str]

    @classmethod
    def of(cls, mailer: Mailer, approvals: Approvals, replies: ReplyRouter,
           ladder: Ladder) -> Desk:
        config = mailer.config
        own = frozenset(m.address.lower() for m in config.mailboxes)
        forwards = ForwardContext(
            own_addresses=own,
            forwarders=frozenset(a.lower() for a in config.staff.forwarders),
        )
        staff = own | forwards.forwarders | frozenset(a.lower() for a in config.staff.notify)
        staff_mailboxes = frozenset(
            mailbox_key(a) for a in (*staff, *(m.email for m in config.managers)))
        return cls(config, mailer, approvals, replies, ladder, own, forwards, staff,
                   staff_mailboxes)

    def classify_context(self, conn: Connection) -> ClassifyContext:
        def is_ours(message_id: str) -> bool:
            # Only ids shaped like ours are looked up; a customer's id never is.
            return may_be_ours(message_id) and rows.is_our_message_id(conn, message_id)

        return ClassifyContext(own_addresses=self.own, is_our_message_id=is_ours)

    def about(self, mail: ParsedMail, view: ParsedMail) -> str:
        """The mailbox key of whoever made us write to staff, for the per-sender limit:
        the sender, or the original customer when staff forwarded the mail (anyone
        else's forward could name a new "customer" each time)."""
        if mail.sender.email.lower() in self.staff:
            return letter_limits.key_of(self.config.limits, view.sender.email)
        return letter_limits.key_of(self.config.limits, mail.sender.email)
