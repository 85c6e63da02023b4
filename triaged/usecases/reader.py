"""The reading workers: messages are read in separate processes within a time budget.

Reading (`core.reading`) is pure CPU work on bytes a stranger chose. A mail
crafted to make a parser or a regular expression crawl would otherwise hold
the poller (and every message behind it) for minutes, starve the watchdog
thread of the interpreter lock and keep a database transaction open. So a
small pool of persistent worker processes (one per core of the machine kind)
reads every message, each message in one worker; past the budget that worker
is killed and a fresh one started, and the message comes back refused with a reason a
person understands, to be quarantined (`triaged quarantine replay` retries it).

A worker is forked by a fork server (`usecases.reading_server`): a fresh
interpreter started once (forking this process, which runs scheduler and IDLE
threads, could copy a held lock) that has imported what reading needs and warmed
it up (`usecases.reading_preload`), so the workers share those pages instead of
each loading its own, and the budget measures reading, not start-up. A worker
dies with its parent (`usecases.reading_process`).

A batch is handed to the workers at once: each worker's thread keeps a few small
messages queued in its worker's pipe, so the worker goes from one message to the
next without waiting for this process. Each message still has its own budget,
counted from when its worker begins it: when the one before it was answered, or
when it was sent to an idle worker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

from triaged.core.reading import Reading, ReadingRules
from triaged.usecases.reading_server import ServedWorker, fork_worker

log = logging.getLogger("triaged.reader")

# A fresh worker maps the language model (and, for the first, the fork server
# imports triaged); on a loaded machine that can take several seconds, which is
# not the message's fault.
START_SECONDS = 120.0
# While a worker starts, the caller is told it is alive this often (the watchdog).
ALIVE_EVERY_SECONDS = 0.5
# Reading processes: parsing is most of intake's CPU, and the machine kind has two cores.
WORKERS = 2
# A message read within this long is never marked in flight: a process stopped in
# those milliseconds was not stopped by it, and a mark per message would cost a
# commit per message. A slower one is marked (`meanwhile`) while it is read on.
MARK_AFTER = 0.25
# Messages queued in a worker's pipe behind the one it reads: at most this many, and
# of at most this many bytes together, so that sending them never waits on the
# worker (the pipe holds them), and waiting for its answer is never delayed.
QUEUED = 3
QUEUED_BYTES = 64 * 1024


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
        being stuck. `meanwhile` runs once the worker has started on the bytes
        and has not answered within `MARK_AFTER` seconds, while it reads on (its
        time counts against the budget); when it returns a reason, the reading
        is stopped and refused with that reason.
        """
        batch = _Batch([data], alive, lambda _: meanwhile)
        self._dispatch(batch)
        return batch.readings()[0]

    def read_all(self, datas: Sequence[bytes], alive: Callable[[], object],
                 meanwhile: Callable[[int], Callable[[], str]]) -> Callable[[], list[Reading]]:
        """Have every worker read `datas` at once, from now on; the returned call
        waits for the readings, in order. `meanwhile(i)` is the `meanwhile` of
        `read` for the i-th message."""
        batch = _Batch(datas, alive, meanwhile)
        if self.size == 1 or len(datas) < 2:
            self._dispatch(batch)
            return batch.readings
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="triaged-reading")
        futures = [self._threads.submit(self._dispatch, batch) for _ in range(self.size)]

        def readings() -> list[Reading]:
            for future in futures:
                future.result()
            return batch.readings()

        return readings

    def _dispatch(self, batch: _Batch) -> None:
        """Have the first free worker read what is left of `batch`."""
        worker = self._free.get()
        try:
            with worker.lock:
                worker.read_batch(batch)
                worker.start()
        except BaseException:
            batch.abandon()  # the other workers take no more of it: it has failed
            raise
        finally:
            self._free.put(worker)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None
        for worker in self._workers:
            with worker.lock:
                worker.stop()


class _Batch:
    """Messages shared out among the workers' threads, and their readings as they come."""

    def __init__(self, datas: Sequence[bytes], alive: Callable[[], object],
                 meanwhile: Callable[[int], Callable[[], str]]) -> None:
        self.datas = datas
        self.alive = alive
        self.meanwhile = meanwhile
        self._read: list[Reading | None] = [None] * len(datas)
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The next message nobody has taken, or None."""
        with self._lock:
            if self._next >= len(self.datas):
                return None
            self._next += 1
            return self._next - 1

    def abandon(self) -> None:
        with self._lock:
            self._next = len(self.datas)

    def put(self, i: int, reading: Reading) -> None:
        self._read[i] = reading

    def readings(self) -> list[Reading]:
        done = [reading for reading in self._read if reading is not None]
        assert len(done) == len(self._read), "a message of the batch was not read"
        return done


class _Worker:
    """One reading process, started on first need and replaced after an overrun or crash."""

    def __init__(self, pool: Reader, number: int) -> None:
        self.pool = pool
        self._process: ServedWorker | None = None
        self._conn: Connection | None = None
        self._ready = False
        # Held by whichever thread uses the worker.
        self.lock = threading.Lock()

    def start(self) -> None:
        if self._process is not None:
            return
        self._process, self._conn = fork_worker(self.pool.rules)
        self._ready = False

    def read_batch(self, batch: _Batch) -> None:
        """Read messages of `batch` until none is left, a few queued ahead in the pipe.

        The first message queued is the one the worker reads; its time runs from
        when it was sent to an idle worker, or when the one before it was answered.
        """
        taken: deque[int] = deque()  # not yet sent, or sent to a worker since replaced
        sent: deque[int] = deque()  # in the worker's pipe, in order
        began = 0.0
        try:
            while True:
                if not taken and (i := batch.take()) is not None:
                    taken.append(i)
                if taken and self._room(batch, sent, taken[0]):
                    if not sent:
                        self._connection(batch.alive)
                    if self._send(batch.datas[taken[0]]):
                        sent.append(taken.popleft())
                        began = began if len(sent) > 1 else time.monotonic()
                        continue
                if not sent:
                    if taken:  # the idle worker was found dead: that message is refused
                        batch.put(taken.popleft(), self._crashed())
                        continue
                    return
                batch.put(sent[0], self._answer(began, batch.meanwhile(sent[0])))
                sent.popleft()
                began = time.monotonic()
                if self._conn is None:  # replaced: the next one reads what it had queued
                    taken.extendleft(reversed(sent))
                    sent.clear()
        except BaseException:
            if sent:
                # Answers are owed for those bytes; left in the pipe they would be
                # taken as the answers to the next messages sent.
                self.stop()
            raise

    def _room(self, batch: _Batch, sent: deque[int], i: int) -> bool:
        """Whether message `i` can be sent now without waiting on the worker."""
        if not sent:
            return True
        if len(sent) > QUEUED:
            return False
        queued = sum(len(batch.datas[j]) for j in list(sent)[1:])
        return queued + len(batch.datas[i]) <= QUEUED_BYTES

    def _send(self, data: bytes) -> bool:
        """Send `data`; False when the worker is gone (the message it reads, if any,
        gets the reason)."""
        assert self._conn is not None
        try:
            self._conn.send_bytes(data)
        except OSError:
            return False
        return True

    def _crashed(self) -> Reading:
        exitcode = self.stop()
        log.error("the reading process stopped while reading a message (%s)",
                  crash_reason(exitcode))
        return Reading(refused=crash_reason(exitcode))

    def _answer(self, began: float, meanwhile: Callable[[], str]) -> Reading:
        """The answer to the message the worker began at `began`; on an overrun or a
        crash the worker is stopped and the message refused."""
        budget, conn = self.pool.budget, self._conn
        assert conn is not None
        try:
            if conn.poll(max(0.0, min(MARK_AFTER, budget) - (time.monotonic() - began))):
                reading: Reading = conn.recv()
                return reading
            try:
                refused = meanwhile()
            except BaseException:
                self.stop()
                raise
            if refused:
                self.stop()
                return Reading(refused=refused)
            if conn.poll(max(0.0, budget - (time.monotonic() - began))):
                reading = conn.recv()
                return reading
        except (EOFError, OSError):
            return self._crashed()
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
