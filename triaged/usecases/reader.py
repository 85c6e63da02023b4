"""The reading worker: messages are read in a separate process within a time budget.

Reading (`core.reading`) is pure CPU work on bytes a stranger chose. A mail
crafted to make a parser or a regular expression crawl would otherwise hold
the poller (and every message behind it) for minutes, starve the watchdog
thread of the interpreter lock and keep a database transaction open. So one
persistent worker process reads every message; past the budget it is killed
and a fresh one started, and the message comes back refused with a reason a
person understands, to be quarantined (`triaged quarantine replay` retries it).

The worker is started with `spawn` (a fresh interpreter: forking a process that
runs scheduler and IDLE threads could copy a held lock). It warms up (modules
and the language model) before the first message, so the budget measures
reading, not start-up. It dies with its parent.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from triaged.core.reading import Reading, ReadingRules, read

log = logging.getLogger("triaged.reader")

# A fresh worker imports triaged and maps the language model; on a loaded
# machine that can take several seconds, which is not the message's fault.
START_SECONDS = 120.0
# While a worker starts, the caller is told it is alive this often (the watchdog).
ALIVE_EVERY_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1


def overrun_reason(budget: float) -> str:
    return (f"took longer than {budget:g} s to read; "
            "quarantined so the mailbox keeps moving")


def crash_reason(exitcode: int | None) -> str:
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit {exitcode}"
    return f"reading it stopped the reading process ({how}); quarantined"


class Reader:
    """Reads messages in a worker process, each within `budget` seconds."""

    def __init__(self, rules: ReadingRules, budget: float) -> None:
        self.rules = rules
        self.budget = budget
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._ready = False
        # Pollers of several mailboxes share the worker: one message at a time.
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the worker now (it warms up while the caller connects to its mailboxes)."""
        if self._process is not None:
            return
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_work, args=(theirs, self.rules, os.getpid()),
                                        name="triaged-reader", daemon=True)
        process.start()
        theirs.close()
        self._process, self._conn, self._ready = process, ours, False

    def read(self, data: bytes, alive: Callable[[], object] = lambda: None,
             meanwhile: Callable[[], str] = lambda: "") -> Reading:
        """The reading of `data`, or a refused one when it overran the budget or
        crashed the worker (which is then replaced at once, to warm up meanwhile).

        `alive` is called while a worker is starting: waiting for one is not
        being stuck. `meanwhile` runs once the worker has the bytes, while it
        reads them (its time counts against the budget); when it returns a
        reason, the reading is stopped and refused with that reason.
        """
        with self._lock:
            reading = self._read(data, alive, meanwhile)
            self.start()
            return reading

    def _read(self, data: bytes, alive: Callable[[], object],
              meanwhile: Callable[[], str]) -> Reading:
        conn = self._worker(alive)
        try:
            conn.send_bytes(data)
            started = time.monotonic()
            try:
                refused = meanwhile()
            except BaseException:
                # The worker's answer to these bytes is owed; left in the pipe it would
                # be taken as the answer to the next message read (another sender's).
                self._stop()
                raise
            if refused:
                self._stop()
                return Reading(refused=refused)
            if conn.poll(max(0.0, self.budget - (time.monotonic() - started))):
                reading: Reading = conn.recv()
                return reading
        except (EOFError, OSError):
            exitcode = self._stop()
            log.error("the reading process stopped while reading a message (%s)",
                      crash_reason(exitcode))
            return Reading(refused=crash_reason(exitcode))
        self._stop()
        log.warning("a message took longer than %g s to read: reading process replaced",
                    self.budget)
        return Reading(refused=overrun_reason(self.budget))

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _worker(self, alive: Callable[[], object]) -> Connection:
        self.start()
        assert self._conn is not None
        if not self._ready:
            waited = 0.0
            while not self._conn.poll(ALIVE_EVERY_SECONDS):
                alive()
                waited += ALIVE_EVERY_SECONDS
                if waited < START_SECONDS:
                    continue
                self._stop()
                raise OSError(f"the reading process did not start within {START_SECONDS:g} s")
            try:
                self._conn.recv_bytes()
            except (EOFError, OSError) as error:
                exitcode = self._stop()
                raise OSError(f"the reading process failed to start (exit {exitcode})") \
                    from error
            self._ready = True
        return self._conn

    def _stop(self) -> int | None:
        process, conn = self._process, self._conn
        self._process, self._conn, self._ready = None, None, False
        if conn is not None:
            conn.close()
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join(5.0)
        return process.exitcode


def _work(conn: Connection, rules: ReadingRules, parent: int) -> None:
    """The worker's loop: bytes in, `Reading` out, until the parent goes away."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    # Warm up: the first message should not pay for imports and the model.
    read(b"From: a@example.test\r\nSubject: hello\r\n\r\nHello, my order was late.\r\n", rules)
    try:
        conn.send_bytes(b"ready")
        while True:
            data = conn.recv_bytes()
            try:
                reading = read(data, rules)
            except Exception as error:  # noqa: BLE001 - a bug on one message: it is quarantined
                reading = Reading(refused=f"internal error: {type(error).__name__}: {error}")
            conn.send(reading)
    except (EOFError, OSError):
        return  # the parent closed its end: stopped, replaced or gone


def _die_with(parent: int) -> None:
    # A worker left behind by a killed parent would read on, alone; Linux ends it
    # with its parent. (Elsewhere it ends at its next message, on the closed pipe.)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(0)
