"""The transports of `triaged.adapters.ports.Transport`: SMTP to a real server, or a Maildir.

`SmtpTransport` sends over `[smtp] connections` parallel sessions, each one
letter at a time from MAIL FROM to the recorded outcome, and turns every
refusal or broken connection into a `Delivery`; `MaildirTransport` files each letter for
demos and tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosmtplib

from triaged.adapters.ports import (
    LOGIN_REFUSED,
    UNREACHABLE,
    Delivery,
    OnDelivery,
    Outgoing,
)

log = logging.getLogger("triaged.sender")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # tls | starttls | plain
    username: str = ""
    password: Callable[[], str] | None = None
    # XOAUTH2 instead of a password: called at each login for a fresh access token.
    oauth2_token: Callable[[], str] | None = None
    timeout: float = 30.0
    # Sessions sending at once; each may leave one letter sent twice after a crash.
    connections: int = 1

    def __repr__(self) -> str:
        return f"SmtpSettings({self.username or '-'}@{self.host}:{self.port}, {self.security})"


class SmtpTransport:
    """Sends over up to `connections` parallel SMTP sessions, reusing each for many letters.

    Each session takes the next letter only when it is free to send it, so no
    more letters are taken from the sender than are being sent.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self._s = settings

    def deliver(self, letters: Iterable[Outgoing], on_delivery: OnDelivery) -> None:
        source = iter(letters)
        first = next(source, None)
        if first is not None:
            asyncio.run(self._deliver_all(first, source, on_delivery))

    def probe(self) -> str:
        async def go() -> str:
            client = self._client()
            await client.connect()
            how = await self._login(client)
            await client.quit()
            return how

        how = asyncio.run(go())
        s = self._s
        return f"connected to {s.host}:{s.port}" + (
            f", logged in as {s.username} ({how})" if how else " (no login configured)")

    def _client(self) -> aiosmtplib.SMTP:
        s = self._s
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            timeout=s.timeout,
            local_hostname=socket.gethostname(),
        )

    async def _login(self, client: aiosmtplib.SMTP) -> str:
        """Authenticate if configured; how ("XOAUTH2", "password", "" for not at all)."""
        s = self._s
        if s.username and s.oauth2_token is not None:
            # A fresh token at every login: the last one may have expired.
            await client.auth_xoauth2(s.username, s.oauth2_token())
            return "XOAUTH2"
        if s.username and s.password is not None:
            await client.login(s.username, s.password())
            return "password"
        return ""

    async def _deliver_all(
        self, first: Outgoing, rest: Iterator[Outgoing], on_delivery: OnDelivery
    ) -> None:
        feed = _Feed(first, rest)
        await asyncio.gather(*(self._worker(feed, on_delivery)
                               for _ in range(max(1, self._s.connections))))

    async def _worker(self, feed: _Feed, on_delivery: OnDelivery) -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            while (letter := feed.take()) is not None:
                if client is None:
                    try:
                        client = self._client()
                        await client.connect()
                        await self._login(client)
                    except (aiosmtplib.SMTPException, OSError, ValueError) as error:
                        # ValueError: the token command failed (it names itself).
                        client = None
                        feed.stop()
                        outage, text = describe_outage(error)
                        on_delivery(Delivery(letter.letter_id, False, False, text, outage))
                        return
                delivery = await _send_one(client, letter, on_delivery)
                if not delivery.accepted and not client.is_connected:
                    client = None
        finally:
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()


class _Feed:
    """The letters still to send, handed to whichever session is free; `stop()` ends it
    (the server is away: no more letters are taken)."""

    def __init__(self, first: Outgoing, rest: Iterator[Outgoing]) -> None:
        self._first: Outgoing | None = first
        self._rest: Iterator[Outgoing] | None = rest

    def take(self) -> Outgoing | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._rest is None:
            return None
        letter = next(self._rest, None)
        if letter is None:
            self._rest = None
        return letter

    def stop(self) -> None:
        self._first = None
        self._rest = None


async def _send_one(client: aiosmtplib.SMTP, letter: Outgoing, on_delivery: OnDelivery) -> Delivery:
    """One SMTP transaction; its fate is reported through `on_delivery` before returning.

    A session sends one letter at a time and reports its outcome (the sender
    commits it) before taking the next, so a crash at any moment leaves at most
    one letter per session accepted by the server and not yet recorded: at most
    one duplicate per connection.
    """
    delivery = await _envelope(client, letter)
    if delivery is None:
        delivery = await _guarded(client, letter, client.data(letter.raw))
    delivery = delivery or Delivery(letter.letter_id, True)
    on_delivery(delivery)
    return delivery


async def _envelope(client: aiosmtplib.SMTP, letter: Outgoing) -> Delivery | None:
    """MAIL FROM and RCPT TO (as `sendmail` sends them); a Delivery only on failure."""
    utf8 = not (letter.mail_from.isascii() and letter.to.isascii())
    if utf8 and not client.supports_extension("smtputf8"):
        return Delivery(letter.letter_id, False, permanent=True,
                        error="the address needs SMTPUTF8, which the server does not offer")
    options = ["SMTPUTF8"] if utf8 else []
    if client.supports_extension("size"):
        options.insert(0, f"SIZE={len(letter.raw)}")
    encoding = "utf-8" if utf8 else "ascii"

    async def both() -> None:
        await client.mail(letter.mail_from, options=options, encoding=encoding)
        await client.rcpt(letter.to, encoding=encoding)

    return await _guarded(client, letter, both())


async def _guarded(
    client: aiosmtplib.SMTP, letter: Outgoing, step: Coroutine[Any, Any, object]
) -> Delivery | None:
    """Run one step of the transaction; a refusal or a broken connection becomes a Delivery."""
    try:
        await step
    except aiosmtplib.SMTPResponseException as error:
        # Reset the envelope so the connection can carry the next letter.
        await _reset(client)
        permanent = 500 <= error.code < 600
        return Delivery(letter.letter_id, False, permanent, f"{error.code} {error.message}")
    except (aiosmtplib.SMTPException, OSError) as error:
        client.close()
        return Delivery(letter.letter_id, False, False, f"{type(error).__name__}: {error}")
    return None


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def describe_outage(error: BaseException) -> tuple[str, str]:
    """(UNREACHABLE or LOGIN_REFUSED, one line for the operator) for a failed connection.

    Neither the server's answer nor our token command's message carries the
    password or token, so the line is safe to log.
    """
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        return LOGIN_REFUSED, f"SMTP login refused: {error.code} {error.message}"
    if isinstance(error, ValueError):
        return LOGIN_REFUSED, f"SMTP login impossible: {error}"
    return UNREACHABLE, f"SMTP unreachable: {type(error).__name__}: {error}"


_UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


class MaildirTransport:
    """Delivers each letter into `<root>/<recipient>/new/`, for `triaged demo` and dry runs."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def mailbox_of(self, address: str) -> Path:
        return self.root / _UNSAFE.sub("_", address.lower())

    def deliver(self, letters: Iterable[Outgoing], on_delivery: OnDelivery) -> None:
        for letter in letters:
            box = self.mailbox_of(letter.to)
            for sub in ("tmp", "new", "cur"):
                (box / sub).mkdir(parents=True, exist_ok=True)
            name = f"{time.time_ns()}.{os.getpid()}_{letter.letter_id}.triaged"
            tmp = box / "tmp" / name
            tmp.write_bytes(letter.raw)
            # Maildir delivery: write in tmp/, then rename into new/ (atomic).
            os.rename(tmp, box / "new" / name)
            on_delivery(Delivery(letter.letter_id, True))

    def probe(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        return f"letters go to Maildirs under {self.root}"
