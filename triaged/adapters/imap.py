"""IMAP source on imapclient: UIDVALIDITY + UID cursor, batched BODY.PEEK[] fetches.

Nothing here marks a message until the caller says its outcome is committed
(after the database commit): fetches use BODY.PEEK[] so not even \\Seen is set by reading.
Every socket or protocol failure surfaces as TransientError, so the caller
backs off and retries instead of crashing.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientError

from triaged.adapters.ports import Batch, Cursor, chunks
from triaged.domain.errors import PermanentError, TransientError
from triaged.domain.records import RawMail

log = logging.getLogger("triaged.ingest")

# One UID FETCH command asks for at most this many messages; Dovecot answers
# 500 bodies in a few milliseconds, and it bounds what one poll holds in memory.
FETCH_BATCH = 200

# Untagged answers that say the folder changed (new mail, or mail gone).
_CHANGES = (b"EXISTS", b"RECENT", b"EXPUNGE", b"VANISHED")
# A caught-up poll still SELECTs at least this often, in case a server stays quiet.
RESELECT_SECONDS = 300.0
# How long the UIDs one SEARCH found serve the batches after it. A backlog's
# batches follow each other within seconds; past this, the folder is looked at anew.
AHEAD_SECONDS = 60.0

_NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, IMAPClientError, EOFError)
# A password or token command that fails is an outage too: retried, never a crash.
_LOGIN_ERRORS = (*_NETWORK_ERRORS, ValueError)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # tls | starttls | plain
    username: str
    password: Callable[[], str]
    folder: str = "INBOX"
    processed_folder: str = "Triaged"
    timeout: float = 60.0
    # XOAUTH2 (Google Workspace, Microsoft 365): a fresh access token per login.
    oauth2_token: Callable[[], str] | None = None

    def __repr__(self) -> str:
        # The password callable never shows; the rest helps an operator.
        return (
            f"ImapSettings({self.username}@{self.host}:{self.port}, {self.security}, "
            f"folder={self.folder!r})"
        )


class ImapSource:
    """One mailbox folder on an IMAP server; not thread-safe, one per thread."""

    def __init__(self, name: str, settings: ImapSettings) -> None:
        self.name = name
        self._s = settings
        self._client: imapclient.IMAPClient | None = None
        self._select: dict[bytes, Any] = {}
        # The cursor at which the (always selected) folder was last seen to hold
        # nothing new, and when (see _quiet_since_caught_up).
        self._caught_up: tuple[int, int] | None = None
        self._caught_up_since = 0.0
        # UIDs the last SEARCH found beyond the batch it served (UIDVALIDITY, UIDs, when):
        # a backlog's next batches are fetched from this list, with no SELECT and SEARCH
        # of the whole backlog again for each; once it runs out, the folder is looked at.
        self._ahead: tuple[int, list[int], float] | None = None
        # Whether this source has found its processed folder once: missing later, it
        # was deleted under us, which the operator should hear about.
        self._had_processed_folder = False

    # -- connection -------------------------------------------------------------

    def connect(self) -> None:
        if self._client is not None:
            return
        s = self._s
        try:
            client = self._log_in()
            self._client = client
            self._select = dict(client.select_folder(s.folder))
            if s.processed_folder and not client.folder_exists(s.processed_folder):
                _create_folder(client, s.processed_folder)
                if self._had_processed_folder:
                    log.warning("%s: the processed folder %r was deleted on the server; "
                                "made it again (mail read meanwhile is moved there now)",
                                self.name, s.processed_folder)
            self._had_processed_folder = bool(s.processed_folder)
        except _LOGIN_ERRORS as error:
            raise self._outage(error) from error

    def _log_in(self) -> imapclient.IMAPClient:
        s = self._s
        client = imapclient.IMAPClient(
            s.host, port=s.port, ssl=s.security == "tls", timeout=s.timeout
        )
        try:
            # Aware datetimes for INTERNALDATE, not naive local time.
            client.normalise_times = False
            if s.security == "starttls":
                client.starttls(ssl.create_default_context())
            # imaplib writes a SASL response and its CRLF separately: with Nagle's
            # algorithm the CRLF waits for the server's delayed ACK, 40 ms per
            # XOAUTH2 login (measured by bench/login_cost.py).
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.oauth2_token is not None:
                # A fresh token at every login: the last one may have expired.
                client.oauth2_login(s.username, s.oauth2_token())
            else:
                client.login(s.username, s.password())
        except BaseException:
            with contextlib.suppress(*_NETWORK_ERRORS):
                client.shutdown()
            raise
        return client

    def probe(self) -> str:
        """Log in, look at the folder and make sure `processed_folder` exists (creating
        it, as the first poll would); say what was found. Reads no message.

        Raises TransientError when the server cannot be reached or refuses the
        login, PermanentError when the folder does not exist.
        """
        s = self._s
        try:
            client = self._log_in()
            try:
                if not client.folder_exists(s.folder):
                    raise PermanentError(f"IMAP {s.host}:{s.port} ({self.name}): folder "
                                         f"{s.folder!r} does not exist")
                count = int(client.select_folder(s.folder, readonly=True).get(b"EXISTS", 0))
                found = f"folder {s.folder} ({count} messages)"
                if s.processed_folder:
                    if client.folder_exists(s.processed_folder):
                        found += f", {s.processed_folder} exists"
                    else:
                        _create_folder(client, s.processed_folder)
                        found += f", {s.processed_folder} created"
                else:
                    found += ", processed mail is flagged \\Seen"
            finally:
                with contextlib.suppress(*_NETWORK_ERRORS):
                    client.logout()
        except _LOGIN_ERRORS as error:
            raise TransientError(f"IMAP {s.host}:{s.port} ({self.name}): "
                                 f"{_describe(error)}") from error
        how = "XOAUTH2" if s.oauth2_token is not None else "password"
        return f"logged in to {s.host}:{s.port} as {s.username} ({how}); {found}"

    def close(self) -> None:
        client, self._client = self._client, None
        self._caught_up = self._ahead = None
        if client is None:
            return
        # A connection that is already gone has nothing left to release.
        with contextlib.suppress(*_NETWORK_ERRORS):
            client.logout()

    def _outage(self, error: BaseException) -> TransientError:
        """Drop the connection and describe the failure for a single log line."""
        self.close()
        s = self._s
        return TransientError(f"IMAP {s.host}:{s.port} ({self.name}): {_describe(error)}")

    def _c(self) -> imapclient.IMAPClient:
        self.connect()
        assert self._client is not None
        return self._client

    # -- reading ----------------------------------------------------------------

    def first_cursor(self, start: str) -> Cursor:
        self._c()
        uidvalidity = int(self._select[b"UIDVALIDITY"])
        if start == "all":
            return Cursor(uidvalidity, 0)
        high = self._highest_uid()
        return Cursor(uidvalidity, high, floor=high, left_alone_before=self._arrival(high))

    def _arrival(self, uid: int) -> datetime | None:
        """The server's INTERNALDATE of `uid` (server time: no clock of ours involved)."""
        if uid <= 0:
            return None
        arrived = self._c().fetch([uid], ["INTERNALDATE"]).get(uid, {}).get(b"INTERNALDATE")
        return arrived if isinstance(arrived, datetime) and arrived.tzinfo else None

    def _highest_uid(self) -> int:
        uidnext = int(self._select.get(b"UIDNEXT", 0))
        if uidnext:
            return uidnext - 1
        uids = self._c().search(["ALL"])
        return max(uids) if uids else 0

    def count_left_alone(self, cursor: Cursor) -> int:
        if cursor.floor <= 0:
            return 0
        try:
            client = self._select_folder()
            if int(self._select[b"UIDVALIDITY"]) != cursor.uidvalidity:
                return 0
            # "UID 1:n" matches the highest UID even above n: filter it out.
            return sum(1 for u in client.search(["UID", f"1:{cursor.floor}"])
                       if u <= cursor.floor)
        except _NETWORK_ERRORS as error:
            raise self._outage(error) from error

    def fetch_new(self, cursor: Cursor, limit: int) -> Batch:
        try:
            ahead = self._from_ahead(cursor, limit)
            return ahead if ahead is not None else self._fetch_new(cursor, limit)
        except _NETWORK_ERRORS as error:
            self._ahead = None
            raise self._outage(error) from error

    def _from_ahead(self, cursor: Cursor, limit: int) -> Batch | None:
        """The next batch from the UIDs the last SEARCH found, when they continue
        `cursor` and are recent; None: look at the folder."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        uidvalidity, uids, since = ahead
        if (uidvalidity != cursor.uidvalidity or not uids or uids[0] <= cursor.last_uid
                or time.monotonic() - since > AHEAD_SECONDS):
            return None
        self._ahead = (uidvalidity, uids[limit:], since)
        return self._fetch_uids(self._c(), uids[:limit], cursor.last_uid, cursor)

    def _fetch_new(self, cursor: Cursor, limit: int) -> Batch:
        client = self._c()
        if self._quiet_since_caught_up(client, cursor):
            # Nothing new: one NOOP, whatever the folder holds (an empty poll ≤ 50 ms).
            return Batch(cursor, ())
        # Re-select so that the server reports mail that arrived since the last poll
        # and a changed UIDVALIDITY; NOOP alone does not refresh UIDNEXT everywhere.
        client = self._select_folder()
        uidvalidity = int(self._select[b"UIDVALIDITY"])
        reset = uidvalidity != cursor.uidvalidity
        # After a UIDVALIDITY change every old UID is void; the folder is read
        # again from the start (above the old mail left alone, if any) and
        # deduplication keeps complaints single.
        floor = self._floor_by_date(cursor.left_alone_before) if reset else cursor.floor
        last = floor if reset else cursor.last_uid
        uidnext = int(self._select.get(b"UIDNEXT", 0))
        if not reset and uidnext and uidnext <= last + 1:
            self._caught_up, self._caught_up_since = (uidvalidity, last), time.monotonic()
            return Batch(Cursor(uidvalidity, last, floor, cursor.quiet_until,
                                cursor.left_alone_before), ())
        # "UID n:*" always matches the highest UID, even below n: filter it out.
        found = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
        if len(found) > limit:
            self._ahead = (uidvalidity, found[limit:], time.monotonic())
        batch = self._fetch_uids(client, found[:limit], last,
                                 Cursor(uidvalidity, last, floor,
                                        cursor.quiet_until if not reset else 0,
                                        cursor.left_alone_before))
        return replace(batch, reset=reset)

    def _fetch_uids(self, client: imapclient.IMAPClient, uids: list[int], last: int,
                    cursor: Cursor) -> Batch:
        """The messages at `uids` (found above `last`), and `cursor` moved past them."""
        mails: list[RawMail] = []
        for part in chunks(uids, FETCH_BATCH):
            response = client.fetch(list(part), ["BODY.PEEK[]"])
            for uid in part:
                data = response.get(uid, {}).get(b"BODY[]")
                if data is None:
                    # Expunged between SEARCH and FETCH by another client: skip it.
                    continue
                mails.append(RawMail(self.name, self._s.folder, cursor.uidvalidity, uid,
                                     str(uid), bytes(data)))
        return Batch(replace(cursor, last_uid=uids[-1] if uids else last), mails)

    def _select_folder(self) -> imapclient.IMAPClient:
        client = self._c()
        self._select = dict(client.select_folder(self._s.folder))
        return client

    def _quiet_since_caught_up(self, client: imapclient.IMAPClient, cursor: Cursor) -> bool:
        """True when the folder surely holds nothing above `cursor`, by NOOP alone.

        A SELECT costs what the folder holds (Dovecot: ~60 ms for 50 000
        messages), and so does STATUS on a folder that is not open; a NOOP on
        the selected folder costs nothing, and RFC 3501 (§6.1.2, §7.3.1) has the
        server answer it with EXISTS whenever mail arrived. Anything but a plain
        answer, a cursor we did not leave, or a SELECT older than
        `RESELECT_SECONDS` (the safety net) means: select and look.
        """
        if (self._caught_up != (cursor.uidvalidity, cursor.last_uid)
                or time.monotonic() - self._caught_up_since > RESELECT_SECONDS):
            return False
        _text, responses = client.noop()
        if any(isinstance(r, tuple) and len(r) > 1 and r[1] in _CHANGES for r in responses):
            self._caught_up = None
            return False
        return True

    def _floor_by_date(self, left_alone_before: datetime | None) -> int:
        """The highest UID up to which every message arrived by `left_alone_before`.

        `left_alone_before` is the arrival of the newest message left alone at
        first contact. Only an unbroken run of such old mail from the start
        counts: a message that cannot be shown to be old is read, so nothing
        new is ever skipped (one arriving within that same second excepted).
        """
        if left_alone_before is None:
            return 0
        client = self._c()
        floor = 0
        for part in chunks(sorted(client.search(["ALL"])), FETCH_BATCH):
            dates = client.fetch(list(part), ["INTERNALDATE"])
            for uid in part:
                arrived = dates.get(uid, {}).get(b"INTERNALDATE")
                if not isinstance(arrived, datetime) or arrived.tzinfo is None:
                    return floor
                if arrived > left_alone_before:
                    return floor
                floor = uid
        return floor

    # -- marking ----------------------------------------------------------------

    def mark_processed(self, mails: Sequence[RawMail]) -> None:
        self._mark([int(m.key) for m in mails])

    def mark_keys(self, keys: Sequence[str]) -> None:
        self._mark([int(k) for k in keys])

    def _mark(self, uids: list[int]) -> None:
        if not uids:
            return
        # The server may report new mail in its answer to any command, and then never
        # again at a NOOP: after one, the next fetch must look (SELECT), not trust NOOP.
        self._caught_up = None
        try:
            client = self._c()
            for part in chunks(uids, FETCH_BATCH):
                if self._s.processed_folder:
                    self._move(client, list(part))
                else:
                    client.add_flags(list(part), [imapclient.SEEN], silent=True)
        except _NETWORK_ERRORS as error:
            # The outcome is committed; the move will be redone from leftovers().
            raise self._outage(error) from error

    def _move(self, client: imapclient.IMAPClient, uids: list[int]) -> None:
        if client.has_capability("MOVE"):
            client.move(uids, self._s.processed_folder)
            return
        client.copy(uids, self._s.processed_folder)
        client.add_flags(uids, [imapclient.DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()

    def leftovers(self, cursor: Cursor) -> Sequence[str]:
        if cursor.last_uid <= cursor.floor:
            return ()
        # This SELECT reports the folder's mail once; a NOOP after it would not (see _mark).
        self._caught_up = None
        try:
            client = self._select_folder()
            if int(self._select[b"UIDVALIDITY"]) != cursor.uidvalidity:
                # The remembered UIDs now name other messages (the folder was
                # recreated, restored or migrated): none of them is known to be
                # committed, so nothing may be marked unread. fetch_new() reads
                # the folder again and deduplication recognises the old mail.
                return ()
            criteria: list[Any] = ["UID", f"{cursor.floor + 1}:{cursor.last_uid}"]
            if not self._s.processed_folder:
                criteria.append("UNSEEN")
            uids = [u for u in client.search(criteria) if cursor.floor < u <= cursor.last_uid]
        except _NETWORK_ERRORS as error:
            raise self._outage(error) from error
        return [str(u) for u in sorted(uids)]

    def wait_for_news(
        self,
        timeout: float,
        *,
        stop: Callable[[], bool] = lambda: False,
        listening: Callable[[], None] = lambda: None,
    ) -> bool:
        """IDLE until the server reports new mail (EXISTS/RECENT), `timeout` passes or `stop()`.

        `listening()` is called once the server has accepted IDLE: from then on no
        delivery goes unnoticed, so it is the moment to poll for what came before
        (Dovecot does not report mail that arrived between two IDLEs until DONE).
        `stop` is asked about twice a second. Keep `timeout` under 29 minutes
        (RFC 2177). A server without IDLE: the connection is released, the call
        waits out `timeout` and returns False. A dropped connection raises
        TransientError, like every other method.
        """
        deadline = time.monotonic() + timeout
        try:
            client = self._c()
            if not client.has_capability("IDLE"):
                self.close()
                while not stop() and time.monotonic() < deadline:
                    time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                return False
            client.idle()
            news = False
            try:
                listening()
                news = _idle_until(client, deadline, stop)
            finally:
                _text, done = client.idle_done()
            # Mail that arrived just before DONE is reported in DONE's responses.
            return news or _reports_news(done)
        except _NETWORK_ERRORS as error:
            raise self._outage(error) from error


def _idle_until(client: imapclient.IMAPClient, deadline: float, stop: Callable[[], bool]) -> bool:
    """Listen in IDLE, half a second at a time, until news, `stop()` or `deadline`."""
    while not stop() and (left := deadline - time.monotonic()) > 0.05:
        wait = min(0.5, left)
        started = time.monotonic()
        responses = client.idle_check(timeout=wait)
        # imapclient returns [] at once when the server has hung up.
        if not responses and time.monotonic() - started < wait / 2:
            raise ConnectionError("the server closed the IDLE connection")
        if _reports_news(responses):
            return True
    return False


def _reports_news(responses: Sequence[Any]) -> bool:
    return any(
        isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses
    )


def _create_folder(client: imapclient.IMAPClient, folder: str) -> None:
    """Create `folder`; another connection creating it first is success, not an error."""
    try:
        client.create_folder(folder)
    except IMAPClientError as error:
        # RFC 5530 ALREADYEXISTS: a second connection (IDLE watcher, another
        # instance) won the race between our EXISTS check and CREATE.
        if not client.folder_exists(folder):
            raise error from None


_BYTES_REPR = re.compile(r"""b(['"])(.*)\1""", re.DOTALL)


def _unbytes(text: str) -> str:
    """The server's words out of "b'[AUTHENTICATIONFAILED] Authentication failed.'",
    which is how imapclient words a refused login."""
    found = _BYTES_REPR.fullmatch(text.strip())
    if found is None:
        return text
    try:
        value = ast.literal_eval(found.group(0))
    except (ValueError, SyntaxError):
        return found.group(2)
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else found.group(2)


def _describe(error: BaseException) -> str:
    # imapclient passes the server's answer as bytes: show its text, not b'...'.
    first = error.args[0] if len(error.args) == 1 else None
    if isinstance(first, bytes):
        text = first.decode("utf-8", "replace")
    else:
        text = _unbytes(str(error)) or type(error).__name__
    if isinstance(error, imapclient.exceptions.LoginError):
        return f"login refused ({text})"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, ValueError):
        # From the password or token command: the message names the key and command.
        return text
    return f"{type(error).__name__}: {text}"
