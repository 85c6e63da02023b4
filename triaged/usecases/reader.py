"""The reading workers: messages are read in separate processes within a time budget.

Reading (`core.reading`) is pure CPU work on bytes a stranger chose. A mail
crafted to make a parser or a regular expression crawl would otherwise hold
the poller (and every message behind it) for minutes, starve the watchdog
thread of the interpreter lock and keep a database transaction open. So a
small pool of persistent worker processes (one per core of the machine kind)
reads every message, each message in one worker; past the budget that worker
is killed and a fresh one started, and the message comes back refused with a reason a
person understands, to be quarantined (`triaged quarantine replay` retries it).

A worker is started with `spawn` (a fresh interpreter: forking a process that
runs scheduler and IDLE threads could copy a held lock). It warms up (modules
and the language model) before the first message, so the budget measures
reading, not start-up. It dies with its parent.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
# Reading processes: parsing is most of intake's CPU, and the machine kind has two cores.
WORKERS = 2
# A message read within this long is never marked in flight: a process stopped in
# those milliseconds was not stopped by it, and a mark per message would cost a
# commit per message. A slower one is marked (`meanwhile`) while it is read on.
MARK_AFTER = 0.25


def overrun_reason(budget: float) -> str:
    return (f"took longer than {budget:g} s to read; "
            "quarantined so the mailbox keeps moving")


def crash_reason(exitcode: int | None) -> str:
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit {exitcode}"
    return f"reading it stopped the reading process ({how}); quarantined"


class Reader:
    """Reads messages in a pool of worker processes, each message within `budget` seconds.

    `read` takes the first free worker; `read_all` keeps every worker busy on
    a batch while the caller goes on (it writes the batch before), and gives
    the readings in the batch's order. Parsing is the costly step of intake and
    the workers run it on every core, while the caller's threads only wait on
    pipes.
    """

    def __init__(self, rules: ReadingRules, budget: float, workers: int = WORKERS) -> None:
        self.rules = rules
        self.budget = budget
        self._workers = [_Worker(self, n) for n in range(max(1, workers))]
        self._free: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for worker in self._workers:
            self._free.put(worker)
        self._threads: ThreadPoolExecutor | None = None

    @property
    def size(self) -> int:
        return len(self._workers)

    def start(self) -> None:
        """Start the workers now (they warm up while the caller connects to its mailboxes)."""
        for worker in self._workers:
            with worker.lock:
                worker.start()

    def read(self, data: bytes, alive: Callable[[], object] = lambda: None,
             meanwhile: Callable[[], str] = lambda: "") -> Reading:
        """The reading of `data`, or a refused one when it overran the budget or
        crashed its worker (which is then replaced at once, to warm up meanwhile).

        `alive` is called while a worker is starting: waiting for one is not
        being stuck. `meanwhile` runs once the worker has the bytes and has not
        answered within `MARK_AFTER` seconds, while it reads on (its time counts
        against the budget); when it returns a reason, the reading is stopped
        and refused with that reason.
        """
        worker = self._free.get()
        try:
            with worker.lock:
                reading = worker.read(data, alive, meanwhile)
                worker.start()
                return reading
        finally:
            self._free.put(worker)

    def read_all(self, datas: Sequence[bytes], alive: Callable[[], object],
                 meanwhile: Callable[[int], Callable[[], str]]) -> Callable[[], list[Reading]]:
        """Have every worker read `datas` at once, from now on; the returned call
        waits for the readings, in order. `meanwhile(i)` is the `meanwhile` of
        `read` for the i-th message."""
        if self.size == 1 or len(datas) < 2:
            done = [self.read(data, alive, meanwhile(i)) for i, data in enumerate(datas)]
            return lambda: done
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="triaged-reading")
        futures = [self._threads.submit(self.read, data, alive, meanwhile(i))
                   for i, data in enumerate(datas)]
        return lambda: [future.result() for future in futures]

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        for worker in self._workers:
            with worker.lock:
                worker.stop()


class _Worker:
    """One reading process, started on first need and replaced after an overrun or crash."""

    def __init__(self, pool: Reader, number: int) -> None:
        self.pool = pool
        self.name = f"triaged-reader-{number}"
        self._context = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._ready = False
        # Held by whichever thread uses the worker: one message at a time.
        self.lock = threading.Lock()

    def start(self) -> None:
        if self._process is not None:
            return
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_work,
                                        args=(theirs, self.pool.rules, os.getpid()),
                                        name=self.name, daemon=True)
        process.start()
        theirs.close()
        self._process, self._conn, self._ready = process, ours, False

    def read(self, data: bytes, alive: Callable[[], object],
             meanwhile: Callable[[], str]) -> Reading:
        budget = self.pool.budget
        conn = self._connection(alive)
        try:
            conn.send_bytes(data)
            started = time.monotonic()
            if conn.poll(min(MARK_AFTER, budget)):
                reading: Reading = conn.recv()
                return reading
            try:
                refused = meanwhile()
            except BaseException:
                # The worker's answer to these bytes is owed; left in the pipe it would
                # be taken as the answer to the next message read (another sender's).
                self.stop()
                raise
            if refused:
                self.stop()
                return Reading(refused=refused)
            if conn.poll(max(0.0, budget - (time.monotonic() - started))):
                reading = conn.recv()
                return reading
        except (EOFError, OSError):
            exitcode = self.stop()
            log.error("the reading process stopped while reading a message (%s)",
                      crash_reason(exitcode))
            return Reading(refused=crash_reason(exitcode))
        self.stop()
        log.warning("a message took longer than %g s to read: reading process replaced",
                    budget)
        return Reading(refused=overrun_reason(budget))

    def _connection(self, alive: Callable[[], object]) -> Connection:
        self.start()
        assert self._conn is not None
        if not self._ready:
            waited = 0.0
            while not self._conn.poll(ALIVE_EVERY_SECONDS):
                alive()
                waited += ALIVE_EVERY_SECONDS
                if waited < START_SECONDS:
                    continue
                self.stop()
                raise OSError(f"the reading process did not start within {START_SECONDS:g} s")
            try:
                self._conn.recv_bytes()
            except (EOFError, OSError) as error:
                exitcode = self.stop()
                raise OSError(f"the reading process failed to start (exit {exitcode})") \
                    from error
            self._ready = True
        return self._conn

    def stop(self) -> int | None:
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
    _cap_memory()
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


# Memory one message may take on top of the warmed-up worker. The time budget alone
# does not bound it: a mutated message was seen to make reading allocate 24 GB
# within seconds, and the kernel then kills whichever process it picks. Past the
# cap the reading fails with MemoryError and the message is quarantined.
READING_MEMORY = 1536 << 20


def _cap_memory() -> None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + READING_MEMORY, size + READING_MEMORY))
    except (OSError, ValueError):
        return  # not Linux, or not allowed: the time budget still bounds the reading


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
