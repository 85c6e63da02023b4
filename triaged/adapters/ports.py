"""The ports: what a mail source offers intake, and what a transport offers the sender.

Use cases import these types, never an adapter; `triaged.app` picks the
adapters (IMAP or Maildir to read, SMTP or Maildir to send).

A source knows folders, UIDs and bytes; it knows nothing about complaints.
The intake keeps the cursor in the database and hands it back on every poll,
so the cursor moves in the same transaction as the complaint it produced.

A transport takes bytes and addresses and reports, per letter, whether the
server accepted it, refused it for now (try again) or refused it for good.
It never decides what happens next: the sender use case does, from
`Delivery.permanent` and `Delivery.outage`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from triaged.domain.records import RawMail


@dataclass(frozen=True)
class Cursor:
    """Where the last poll stopped: UIDVALIDITY and the highest UID handled.

    UIDs at or below `floor` were in the folder before our first contact with
    `start = "now"`: they are the business's old mail and are never touched.
    UIDs at or below `quiet_until` were there at first contact with
    `start = "all"`: they are registered but get no holding reply.
    `left_alone_before` is the server's arrival time of the newest of those
    messages: when UIDVALIDITY changes and every UID is void, the floor is
    found again from the messages' INTERNALDATE.
    """

    uidvalidity: int
    last_uid: int
    floor: int = 0
    quiet_until: int = 0
    left_alone_before: datetime | None = None


@dataclass(frozen=True)
class Batch:
    """The new messages of one poll, and the cursor they belong to.

    `reset` is True when the server changed UIDVALIDITY: every UID we knew is
    void, the folder is read again from the start, and deduplication stops the
    old messages from becoming complaints twice.
    """

    cursor: Cursor
    messages: Sequence[RawMail]
    reset: bool = False


class MailSource(Protocol):
    name: str

    def connect(self) -> None:
        """Open the connection (log in, select the folder); idempotent."""
        ...

    def close(self) -> None:
        """Release the connection; safe to call twice."""
        ...

    def first_cursor(self, start: str) -> Cursor:
        """The cursor for a folder seen for the first time.

        `start="now"` skips everything already there (by UID, not by date);
        `start="all"` begins before the first message.
        """
        ...

    def count_left_alone(self, cursor: Cursor) -> int:
        """How many messages at or below `cursor.floor` (in the folder before the first
        contact with `start = "now"`) are still there; 0 when the folder's identity
        changed since, as those UIDs then name other messages."""
        ...

    def fetch_new(self, cursor: Cursor, limit: int) -> Batch:
        """Up to `limit` messages after `cursor`, oldest first, without marking them."""
        ...

    def mark_processed(self, mails: Sequence[RawMail]) -> None:
        """Move or flag messages whose outcome is committed."""
        ...

    def mark_keys(self, keys: Sequence[str]) -> None:
        """Mark processed by key (what `leftovers()` returned)."""
        ...

    def leftovers(self, cursor: Cursor) -> Sequence[str]:
        """Keys of messages at or before `cursor` that were never marked processed.

        They are what a crash between the database commit and the move left
        behind; the caller marks them processed without reading them again.
        """
        ...

    def wait_for_news(
        self,
        timeout: float,
        *,
        stop: Callable[[], bool] = ...,
        listening: Callable[[], None] = ...,
    ) -> bool:
        """Block until the server reports new mail, `timeout` passes or `stop()` (IDLE).

        `listening()` is called once the server watches for us, the moment to
        poll for what arrived before.
        """
        ...


@dataclass(frozen=True)
class Outgoing:
    letter_id: int
    mail_from: str
    to: str
    raw: bytes


# Why a whole connection failed, for `Delivery.outage`: the server could not be
# reached, or it (or our token command) refused the login.
UNREACHABLE = "unreachable"
LOGIN_REFUSED = "login refused"


@dataclass(frozen=True)
class Delivery:
    letter_id: int
    accepted: bool
    permanent: bool = False
    error: str = ""
    # Set when the letter was not even tried because the connection failed.
    outage: str = ""


OnDelivery = Callable[[Delivery], None]


class Transport(Protocol):
    def deliver(self, letters: Iterable[Outgoing], on_delivery: OnDelivery) -> None:
        """Try every letter once; call `on_delivery` as soon as each one's fate is known.

        `letters` is read lazily, one letter whenever a connection is free to send
        it (the sender claims each letter only then), and not read further after
        an `outage` delivery: the server is away for every letter.
        """
        ...

    def probe(self) -> str:
        """Connect and authenticate without sending; say how. Raise OSError,
        SMTPException or ValueError (the token command failed) on failure."""
        ...


def chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
