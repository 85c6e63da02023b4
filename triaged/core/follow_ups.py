"""Which complaint a message continues, and whether its sender may speak on it.

A message continues a complaint only when its sender is that complaint's
customer (the same mailbox: any case, `+detail` ignored, see `mailbox_key`) or
staff. Knowing an id or a reference proves nothing: anyone can copy them.

The ids a message names are weighed in a fixed order, so the answer never
depends on which mail arrived last:

1. our own letters' Message-IDs (we made them; nobody else can own them),
2. Message-IDs of mail from this very sender (or any, for staff),
3. Message-IDs of other senders' mail, which can lead a sender only to a
   complaint that is their own anyway (a customer answering staff's mail she
   was copied on): a Message-ID seen on one sender's mail never carries
   another sender's mail to anyone else's complaint, whoever reused it,

each by the message's own order (In-Reply-To, then References nearest first),
then the earliest stored. The first complaint in that order the sender may
speak on is the one continued. Otherwise the first known complaint is
returned as `other`: the message becomes its sender's own complaint, linked
to that one.

Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from triaged.domain.mailbox_key import mailbox_key
from triaged.domain.records import ComplaintRef, KnownId

# References chains grow by one id per message; the nearest ancestors are the
# ones that name the conversation, and a forged chain of thousands is not read.
MAX_IDS = 100


@dataclass(frozen=True)
class Speaker:
    """Who wrote a message, as threading judges them."""

    mailboxes: frozenset[str]  # `mailbox_key`s of the sender (and a trusted forward's customer)
    staff: bool

    @classmethod
    def of(cls, addresses: Iterable[str], *, staff: bool) -> Speaker:
        return cls(frozenset(mailbox_key(a) for a in addresses if a), staff)

    def may_speak_on(self, complaint: ComplaintRef) -> bool:
        """The complaint's customer, or staff."""
        return self.staff or mailbox_key(complaint.customer_email) in self.mailboxes

    def wrote(self, sender: str) -> bool:
        """Whether mail stored from `sender` may route this speaker's mail."""
        return self.staff or mailbox_key(sender) in self.mailboxes


@dataclass(frozen=True)
class Thread:
    """`own`: the complaint the message continues; `other`: one it names that is not
    the sender's (a new complaint is linked to it)."""

    own: ComplaintRef | None = None
    other: ComplaintRef | None = None


def named_ids(in_reply_to: Sequence[str], references: Sequence[str]) -> list[str]:
    """The ids a message names, bare, each once: In-Reply-To first, then References
    nearest first, at most `MAX_IDS`."""
    ordered: list[str] = []
    seen: set[str] = set()
    for raw in [*in_reply_to, *reversed(references)]:
        bare = raw.strip().strip("<>").strip()
        if bare and bare not in seen:
            seen.add(bare)
            ordered.append(bare)
            if len(ordered) == MAX_IDS:
                break
    return ordered


def by_ids(hits: Sequence[KnownId], named: Sequence[str], speaker: Speaker) -> Thread:
    """The complaint `speaker`'s message continues by the ids it `named`."""
    rank = {message_id: index for index, message_id in enumerate(named)}

    def order(hit: KnownId) -> tuple[int, int]:
        return rank.get(hit.message_id, len(rank)), hit.seen

    ours = sorted((h for h in hits if h.ours), key=order)
    incoming = sorted((h for h in hits if not h.ours), key=order)
    theirs = [h.complaint for h in incoming if speaker.wrote(h.sender)]
    others = [h.complaint for h in incoming if not speaker.wrote(h.sender)]
    return choose([*(h.complaint for h in ours), *theirs, *others], speaker)


def choose(complaints: Sequence[ComplaintRef], speaker: Speaker) -> Thread:
    """The first of `complaints` that `speaker` may speak on, else the first, as `other`."""
    for complaint in complaints:
        if speaker.may_speak_on(complaint):
            return Thread(own=complaint)
    return Thread(other=complaints[0] if complaints else None)
