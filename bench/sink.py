"""An SMTP sink in a process of its own, for benchmarks.

The test stack's SMTP server runs in a thread of the process that uses it, so a
benchmark that sends to it pays for both ends of every SMTP conversation under
one GIL. A real deployment's MTA is another process (usually another machine);
this sink is that: aiosmtpd in a child process that accepts every message and
counts it in shared memory, nothing else.

    with SmtpSink() as sink:
        ... send to sink.host:sink.port ...
        sink.accepted  # messages accepted so far
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from tests.support.ports import HOST, free_port
from tests.support.servers import Running


class _Counting:
    def __init__(self, counter: Synchronized[int], delay: float) -> None:
        self.counter = counter
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 2.0.0 OK"


def _serve(port: int, counter: Synchronized[int], delay: float, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counting(counter, delay), hostname=HOST, port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class SmtpSink(Running):
    """`delay`: seconds before each message is accepted (a remote MTA's queue write)."""

    def __init__(self, delay: float = 0.0) -> None:
        # spawn, not fork: the parent may hold threads (the test stack's servers).
        ctx = multiprocessing.get_context("spawn")
        self.host = HOST
        self.port = free_port()
        self._counter: Synchronized[int] = ctx.Value("q", 0)
        self._ready = ctx.Event()
        self._stop = ctx.Event()
        self._process = ctx.Process(target=_serve, daemon=True,
                                    args=(self.port, self._counter, delay, self._ready, self._stop))

    @property
    def accepted(self) -> int:
        # Counted before the 250 reply goes out: once a client has its answer,
        # the count includes its message.
        return int(self._counter.value)

    def start(self) -> None:
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")

    def stop(self) -> None:
        self._stop.set()
        self._process.join(10)
