"""An SMTP server the test controls: stopped and started for real on one port,
refusing chosen recipients (4xx or 5xx), holding letters at RCPT, or hanging.

It keeps what it accepted (recipient, Message-ID) instead of delivering it, so
a test can count replies per customer and spot a letter that arrived twice.

    with FaultyRelay() as relay:
        ... point [smtp] port at relay.port ...
        relay.stop(); relay.start()        # refusing connections, then back
        with relay.hanging(): ...           # accepts connections, never answers
"""

from __future__ import annotations

import contextlib
import email
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import HOST, free_port
from tests.support.servers import Running


class _Handler:
    def __init__(self, relay: FaultyRelay) -> None:
        self.relay = relay

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        import asyncio

        relay = self.relay
        while relay.hold.is_set():
            await asyncio.sleep(0.02)
        if address.lower() in relay.tempfail:
            return "451 4.3.0 try again later"
        if address.lower() in relay.permfail:
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        if self.relay.data_delay:
            await asyncio.sleep(self.relay.data_delay)
        message = email.message_from_bytes(envelope.content)
        with self.relay.lock:
            for rcpt in envelope.rcpt_tos:
                self.relay.received.append((rcpt.lower(), str(message["Message-ID"]),
                                            time.monotonic()))
        return "250 2.0.0 OK"


class FaultyRelay(Running):
    def __init__(self, port: int | None = None, data_delay: float = 0.0) -> None:
        self.port = port or free_port()
        self.data_delay = data_delay
        self.received: list[tuple[str, str, float]] = []
        self.lock = threading.Lock()
        self.tempfail: set[str] = set()
        self.permfail: set[str] = set()
        self.hold = threading.Event()
        self._controller: Controller | None = None

    def start(self) -> None:
        controller = Controller(_Handler(self), hostname=HOST, port=self.port,
                                server_hostname="relay.example.test")
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening and drop every connection: clients are refused from now on."""
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    @contextlib.contextmanager
    def hanging(self) -> Iterator[None]:
        """Stopped, and in its place a socket that accepts connections and never answers."""
        self.stop()
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((HOST, self.port))
            listener.listen(64)
            accepted: list[socket.socket] = []
            stop = threading.Event()

            def take() -> None:
                listener.settimeout(0.1)
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        accepted.append(listener.accept()[0])

            thread = threading.Thread(target=take, daemon=True)
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join()
                for conn in accepted:
                    conn.close()

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for rcpt, _, _ in self.received)

    def duplicates(self) -> int:
        """Letters (by Message-ID and recipient) accepted more than once, beyond the first."""
        with self.lock:
            seen = Counter((rcpt, mid) for rcpt, mid, _ in self.received)
        return sum(n - 1 for n in seen.values())

