"""systemd's side of the daemon: sd_notify, job heartbeats and the watchdog pinger.

The pinger does not ping because the process is alive; it pings because the
jobs are. Every job reports through a `Pulse` when it starts, when it makes
progress (a message done) and when it ends. A job is *stalled* when it has
been running without progress for a whole watchdog interval, or when it has
not even been started for its own period plus that interval (the scheduler
is wedged). While any job is stalled no `WATCHDOG=1` is sent, so systemd
kills and restarts us; once the job comes back (its I/O timed out, the lock
it waited for was released) the pings resume. A mailbox that is merely down
stalls nothing: its poll job still runs, fails fast or backs off, and ends.

The same thread sends `STATUS=` whenever the daemon's one-line summary
changes, so `systemctl status triaged` says what is going on.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger("triaged.daemon")

# How often the summary is looked at for a STATUS= update.
STATUS_EVERY_SECONDS = 2.0


def sd_notify(state: str) -> None:
    """Tell systemd (Type=notify) what we are doing; a no-op when not started by it."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as error:
        log.debug("sd_notify %r failed: %s", state, error)


def watchdog_seconds(environ: Mapping[str, str] | None = None) -> float | None:
    """systemd's watchdog interval for this process, or None when there is none.

    `WATCHDOG_PID`, when set, must be our pid: the variables may have been
    inherited from a parent that systemd watches instead of us.
    """
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


def announce_ready(names: list[str], first_polls: Mapping[str, str], waited_enough: bool,
                   summary: str) -> bool:
    """Send READY=1 once each mailbox's first poll is over, or waiting is over; True if sent.

    A mailbox that failed its first poll does not hold READY back: the others,
    the sender and the escalations work, and STATUS= and the log say which one
    is down. One that is still being polled holds it back until `waited_enough`.
    """
    waiting = [name for name in names if name not in first_polls]
    if waiting and not waited_enough:
        return False
    down = sorted(name for name in names if first_polls.get(name))
    if waiting or down:
        log.warning("ready, but not every mailbox answered: %s",
                    ", ".join([*(f"{name} still polling" for name in waiting),
                               *(f"{name} unreachable ({first_polls[name]})" for name in down)]))
    else:
        log.info("ready: the database and %d mailbox(es) answered", len(names))
    sd_notify(f"READY=1\nSTATUS={summary}")
    return True


def status_line(names: list[str], down: list[str], *, smtp_down: bool, queued: int) -> str:
    """One line for `systemctl status`: "polling 2 mailboxes, 3 letters queued"."""
    parts = [f"polling {len(names)} mailbox{'' if len(names) == 1 else 'es'}"]
    if down:
        parts.append(f"unreachable: {', '.join(down)}")
    if smtp_down:
        parts.append("SMTP unreachable")
    parts.append(f"{queued} letter{'' if queued == 1 else 's'} queued")
    return ", ".join(parts)


@dataclass
class Pulse:
    """The signs of life of one job: started, progressing, ended."""

    period: float
    running: bool = False
    last: float = 0.0

    def __post_init__(self) -> None:
        self.last = time.monotonic()

    def started(self) -> None:
        self.running, self.last = True, time.monotonic()

    def progressed(self) -> None:
        self.last = time.monotonic()

    def ended(self) -> None:
        self.running, self.last = False, time.monotonic()

    def silent_for(self, now: float) -> float:
        return now - self.last


class Heartbeat:
    """The pulses of the running jobs, by job name; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pulses: dict[str, Pulse] = {}

    def pulse(self, name: str, period: float) -> Pulse:
        """A fresh pulse for job `name`, replacing any earlier one (a reload)."""
        fresh = Pulse(period)
        with self._lock:
            self._pulses[name] = fresh
        return fresh

    def forget(self, name: str, pulse: Pulse) -> None:
        """Drop `name` if it is still `pulse` (a retired job of an older config)."""
        with self._lock:
            if self._pulses.get(name) is pulse:
                del self._pulses[name]

    def stalled(self, limit: float, now: float | None = None) -> list[str]:
        """Descriptions of the jobs that showed no sign of life within `limit` (+ period)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            pulses = list(self._pulses.items())
        found = []
        for name, pulse in sorted(pulses):
            silent = pulse.silent_for(now)
            if pulse.running and silent > limit:
                found.append(f"job {name} stuck for {silent:.0f} s")
            elif not pulse.running and silent > pulse.period + limit:
                found.append(f"job {name} not run for {silent:.0f} s")
        return found


class Notifier:
    """A thread that pings the watchdog while the jobs live and keeps STATUS= current."""

    def __init__(self, heartbeat: Heartbeat, summary: Callable[[], str],
                 interval: float | None) -> None:
        self.heartbeat = heartbeat
        self.summary = summary
        # systemd's interval; None when WatchdogSec= is not set.
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sd-notify", daemon=True)
        self._stalled: list[str] = []
        self._status = ""

    def start(self) -> None:
        if self.interval is not None:
            log.info("systemd watchdog every %.3g s: pinging every %.3g s while the jobs run",
                     self.interval, self.interval / 2)
            # systemd ends a wedged service with SIGABRT: print where every thread
            # was stuck to stderr (the journal) on the way out.
            faulthandler.enable(all_threads=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        now = time.monotonic()
        next_ping = now
        next_status = now
        while not self._stop.is_set():
            now = time.monotonic()
            if self.interval is not None and now >= next_ping:
                self._ping()
                next_ping = now + self.interval / 2
            if now >= next_status:
                self._report_status()
                next_status = now + STATUS_EVERY_SECONDS
            wake = min(next_status, next_ping if self.interval is not None else next_status)
            self._stop.wait(max(0.01, wake - time.monotonic()))

    def _ping(self) -> None:
        assert self.interval is not None
        stalled = self.heartbeat.stalled(self.interval)
        if stalled and not self._stalled:
            log.error("%s: no longer telling systemd's watchdog we are alive",
                      "; ".join(stalled))
        elif self._stalled and not stalled:
            log.info("jobs running again; watchdog pings resumed")
        if stalled != self._stalled:
            self._stalled = stalled
            self._report_status()
        if not stalled:
            sd_notify("WATCHDOG=1")

    def _report_status(self) -> None:
        # A bug in the summary must not stop the pings.
        try:
            text = "; ".join(self._stalled) or self.summary()
        except Exception:
            log.exception("building the status line failed")
            return
        if text != self._status:
            self._status = text
            sd_notify(f"STATUS={text}")
