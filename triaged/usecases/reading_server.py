"""The reading workers' fork server: one small process that forks a worker on request.

This process runs scheduler and IDLE threads, so it never forks itself (a child
could inherit a lock another thread holds). A fresh interpreter is started once
instead; it imports what reading needs and warms it up
(`usecases.reading_preload`), then forks every worker from that state, so the
workers share those pages and a worker's time budget measures reading, not
start-up. (multiprocessing's fork server would do the same, but it also starts
a resource tracker, one more interpreter of about 6 MB, for semaphores and shared
memory that reading never makes.)

The two talk over a Unix socket pair, a message per request: the worker's
arguments, pickled, with two descriptors, the worker's end of its pipe and the
writing end of a status pipe. The server forks the worker and writes into that
status pipe the worker's pid, then, once it has reaped it, its exit code
(negative: the signal that ended it). The server ends when this process's end of
the socket closes (it stopped or was killed), and its workers with it
(`usecases.reading_process`).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
from multiprocessing.connection import Connection, Pipe

from triaged.core.reading import ReadingRules

# What the server imports before it forks the first worker: reading, warmed up.
PRELOAD = "triaged.usecases.reading_preload"
_STATUS = struct.Struct("q")
# Room for one request: the pickled rules (a few kB) and the parent's pid.
_REQUEST_BYTES = 256 * 1024
# Run by the server's interpreter, with the socket's descriptor and this sys.path.
_LAUNCH = ("import json, sys; sys.path[:] = json.loads(sys.argv[2]); "
           "from triaged.usecases.reading_server import serve; serve()")


class ServedWorker:
    """A worker forked by the server: this process's handle on it, as on a child."""

    def __init__(self, pid: int, status: int) -> None:
        self.pid = pid
        self.exitcode: int | None = None
        self._status: int | None = status

    def is_alive(self) -> bool:
        return not self._ended(0.0)

    def kill(self) -> None:
        if not self._ended(0.0):  # a pid reaped may already name another process
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def join(self, timeout: float) -> None:
        self._ended(timeout)

    def _ended(self, timeout: float) -> bool:
        """Whether the server said the worker ended, waiting up to `timeout` s for it."""
        if self._status is None:
            return True
        if not select.select([self._status], [], [], timeout)[0]:
            return False
        data = os.read(self._status, _STATUS.size)
        os.close(self._status)
        self._status = None
        # Nothing to read: the server itself is gone, and the worker with it.
        self.exitcode = _STATUS.unpack(data)[0] if len(data) == _STATUS.size \
            else -signal.SIGKILL
        return True


class _Client:
    """This process's side: starts the server on first need, asks it for workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._server: subprocess.Popen[bytes] | None = None

    def fork(self, rules: ReadingRules) -> tuple[ServedWorker, Connection]:
        """A new worker reading with `rules`, and this process's end of its pipe."""
        ours, theirs = Pipe()
        status, status_theirs = os.pipe()
        try:
            with self._lock:
                requests = self._started()
                socket.send_fds(requests, [pickle.dumps((rules, os.getpid()))],
                                [theirs.fileno(), status_theirs])
            pid = os.read(status, _STATUS.size)
        except BaseException:
            ours.close()
            os.close(status)
            raise
        finally:
            theirs.close()
            os.close(status_theirs)
        if len(pid) != _STATUS.size:
            ours.close()
            os.close(status)
            raise OSError("the reading processes' fork server stopped")
        return ServedWorker(_STATUS.unpack(pid)[0], status), ours

    def _started(self) -> socket.socket:
        if self._socket is not None and self._server is not None \
                and self._server.poll() is None:
            return self._socket
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            # Started, not forked: subprocess executes the new interpreter at once.
            self._server = subprocess.Popen(
                [sys.executable, "-c", _LAUNCH, str(theirs.fileno()), json.dumps(sys.path)],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        self._socket = ours
        return ours

    def close(self) -> None:
        """Stop the server (and so its workers); it ends on the closed socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._server is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(5.0)
            self._server = None


_client = _Client()
atexit.register(_client.close)


def fork_worker(rules: ReadingRules) -> tuple[ServedWorker, Connection]:
    """A reading worker forked by this process's fork server (started on first need)."""
    return _client.fork(rules)


def serve() -> None:
    """The server's loop, in the interpreter `_LAUNCH` starts."""
    requests = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    # Should it fail, each worker warms up on its own, and reports what fails.
    with contextlib.suppress(Exception):
        importlib.import_module(PRELOAD)
    from triaged.usecases.reading_process import work

    # A child's end wakes the loop through this pipe.
    woken, wake = os.pipe()
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda _signal, _frame: None)
    statuses: dict[int, int] = {}
    while True:
        try:
            ready = select.select([requests.fileno(), woken], [], [])[0]
        except InterruptedError:
            continue
        if woken in ready:
            os.read(woken, 4096)
            _reap(statuses)
        if requests.fileno() not in ready:
            continue
        message, fds, _flags, _address = socket.recv_fds(requests, _REQUEST_BYTES, 2)
        if not message:
            return  # the parent closed its end: stopped or gone
        conn, status = fds
        # From the parent only: the socket pair was made by it, never named.
        rules, parent = pickle.loads(message)  # noqa: S301
        pid = os.fork()
        if pid == 0:
            # The worker keeps only its pipe: the server's ends would keep the server
            # (or other workers' status) open after the worker's parent went away.
            code = 1
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for fd in (requests.detach(), woken, wake, status, *statuses.values()):
                    os.close(fd)
                work(Connection(conn), rules, parent)
                code = 0
            finally:
                os._exit(code)
        os.close(conn)
        with contextlib.suppress(OSError):  # the parent was stopped meanwhile: it ends
            os.write(status, _STATUS.pack(pid))
        statuses[pid] = status


def _reap(statuses: dict[int, int]) -> None:
    """Tell the client of each worker that ended how it ended."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = statuses.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.write(fd, _STATUS.pack(os.waitstatus_to_exitcode(status)))
            os.close(fd)
