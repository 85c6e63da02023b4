"""Inside a reading worker: bytes in, `Reading` out, until the parent goes away.

The workers are forked by a server process (`usecases.reading_server`) that has
already imported what reading needs; what they inherit stays shared with it and with
each other as long as nobody writes to it, so a worker's own memory is what
its readings touch.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import signal
from multiprocessing.connection import Connection

from triaged.core.reading import Reading, ReadingRules, read

_PR_SET_PDEATHSIG = 1
# Memory one message may take on top of the warmed-up worker. The time budget alone
# does not bound it: a mutated message was seen to make reading allocate 24 GB
# within seconds, and the kernel then kills whichever process it picks. Past the
# cap the reading fails with MemoryError and the message is quarantined.
READING_MEMORY = 1536 << 20
WARM_UP = b"From: a@example.test\r\nSubject: hello\r\n\r\nHello, my order was late.\r\n"


def work(conn: Connection, rules: ReadingRules, parent: int) -> None:
    """The worker's loop; `parent` is the triaged process it reads for."""
    # What the fork server imported is never collected: without this the first full
    # collection would write to every inherited object, copying each page it is on.
    gc.freeze()
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    # Warm up: the first message should not pay for the model and first-use caches
    # (already paid by the fork server, unless its warm-up failed).
    read(WARM_UP, rules)
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


def _cap_memory() -> None:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + READING_MEMORY, size + READING_MEMORY))
    except (OSError, ValueError):
        return  # not Linux, or not allowed: the time budget still bounds the reading


def _die_with(parent: int) -> None:
    # A worker left behind by a killed parent would read on, alone. Linux ends it
    # with the process that forked it: the fork server, which ends when the parent's
    # end of its socket closes (the worker does not hold that socket).
    # (Elsewhere a worker ends at its next message, on the closed pipe.)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    # Checked after the signal is set, so a parent gone in between is seen here
    # (unless /proc cannot tell: then the worker ends at its next message).
    server = os.getppid()
    if server != parent and _parent_of(server) not in (parent, None):
        os._exit(0)


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # "pid (name) state ppid ...": the name may hold spaces and parentheses.
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
