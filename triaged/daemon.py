"""The long-running service: apscheduler jobs, IDLE watchers, signals, sd_notify.

Each mailbox has a poll job and, with `idle = true`, an IDLE watcher: a thread
on a second connection that asks for a poll whenever it is (again) listening,
which covers both new mail and whatever arrived while it was not listening.
One escalation job reminds staff and escalates overdue complaints (a cheap
indexed scan, so it runs often: second-scale ladders work in real time), and
one send job delivers the outbox. Jobs follow STYLE-ANCHORS rule 1 (each
drains a one-step use case) and run through `Serial`: one thread at a time
per job, and a wake-up that comes while the job runs makes it run once more
instead of being lost.

A mailbox that cannot be reached is logged once per outage and retried with
growing pauses; nothing here lets one bad mailbox stop the others or the sender.

Signals are read from a wake-up socket by the main thread, so SIGHUP's reload
and SIGTERM's drain run as ordinary code, never inside a signal handler.
A reload builds a new `Generation` (config, app, jobs, watchers); only once it
is built is the old one retired: its jobs are removed, a running poll stops
after its current message, its watchers leave IDLE and its connections close.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError

from triaged import app as wiring
from triaged import config as config_module
from triaged.app import App
from triaged.config import Config, MailboxConfig
from triaged.errors import ConfigError, TransientError
from triaged.ingest.imap import ImapSource
from triaged.intake import Tally
from triaged.polling import MailboxPoller

log = logging.getLogger("triaged.daemon")

SEND_EVERY_SECONDS = 5.0
# The escalation scan reads only what is due (SPEC §10: ≤ 200 ms for 100 000 open
# complaints, in practice well under a millisecond when nothing is), so a short
# period costs little and keeps reminders on time.
ESCALATE_EVERY_SECONDS = 2.0
# Satisfaction checks wait days: looking once a minute is plenty.
SATISFACTION_EVERY_SECONDS = 60.0
# Pauses after consecutive failures of one mailbox: 5 s doubling to 10 minutes.
BACKOFF_START, BACKOFF_MAX = 5.0, 600.0
# An IDLE watcher retries sooner (0.5 s doubling to a minute): while it is
# down, new mail waits for poll_interval.
IDLE_BACKOFF_START, IDLE_BACKOFF_MAX = 0.5, 60.0
# RFC 2177: a client should re-issue IDLE at least every 29 minutes. Ten keeps
# us well inside that and inside the idle timeouts of common NAT boxes.
IDLE_RENEW_SECONDS = 600.0
# Consecutive IDLE failures (while polling works) before one warning is logged.
IDLE_WARN_AFTER = 6
# Letters due within this many seconds are still sent on SIGTERM.
DRAIN_SECONDS = 20.0
# How long a reload or a stop waits for a running job to finish its message.
RETIRE_WAIT_SECONDS = 30.0
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Outage:
    """Back-off state of one resource: one log line when it goes, one when it returns."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.retry_at = 0.0

    @property
    def down(self) -> bool:
        return self.failures > 0

    def ready(self) -> bool:
        return time.monotonic() >= self.retry_at

    def retry_now(self) -> None:
        """Forget the pause (a reload or a listening IDLE says: try again at once)."""
        self.retry_at = 0.0

    def failed(self, error: Exception, *, unexpected: bool = False) -> None:
        self.failures += 1
        pause = min(BACKOFF_MAX, BACKOFF_START * 2 ** (self.failures - 1))
        self.retry_at = time.monotonic() + pause
        if self.failures == 1:
            # An unexpected error is a bug: its traceback is worth one entry per outage.
            log.error("%s: %s; retrying with back-off", self.name, error,
                      exc_info=error if unexpected else None)
        else:
            log.debug("%s still failing (%d failures): %s", self.name, self.failures, error)

    def recovered(self) -> None:
        if self.failures:
            log.info("%s reachable again after %d failed attempt(s)", self.name, self.failures)
        self.failures = 0
        self.retry_at = 0.0


class Serial:
    """Runs `work` on at most one thread at a time; a call made meanwhile is not lost.

    A call while `work` runs returns at once and makes the running call go
    round once more, so a wake-up that arrives mid-poll is answered by a poll
    that starts after it.
    """

    def __init__(self, work: Callable[[], None]) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._wanted = threading.Event()

    def __call__(self) -> None:
        self._wanted.set()
        while self._wanted.is_set():
            if not self._lock.acquire(blocking=False):
                return  # the running call sees `_wanted` and goes again
            try:
                self._wanted.clear()
                self._work()
            finally:
                self._lock.release()

    def wait(self, timeout: float) -> bool:
        """Wait until no call is running; False when `timeout` passed first."""
        if not self._lock.acquire(timeout=timeout):
            return False
        self._lock.release()
        return True


class IdleWatcher:
    """A thread with its own connection in IDLE; `listening` is called each time IDLE starts.

    It only speeds things up (the poll job is the authority), so it never
    dies and never crowds the log: failures back off from 5 s to a minute and
    are logged at debug level, or once as a warning when IDLE keeps failing
    while the mailbox itself answers polls.
    """

    def __init__(self, mailbox: MailboxConfig, listening: Callable[[], None],
                 retired: threading.Event, mailbox_down: Callable[[], bool]) -> None:
        self.mailbox = mailbox
        self._listening = listening
        self._retired = retired
        self._mailbox_down = mailbox_down
        self.thread = threading.Thread(target=self._run, name=f"idle-{mailbox.name}",
                                       daemon=True)
        self._started = False
        # start() runs in a poll job's thread, join() in the main thread on a reload:
        # without the lock, join could see _started before the thread has started.
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the thread; calling it again does nothing."""
        with self._lock:
            if not self._started:
                self._started = True
                self.thread.start()

    def join(self, timeout: float) -> None:
        with self._lock:
            started = self._started
        if started:
            self.thread.join(timeout)

    def _run(self) -> None:
        source = wiring.make_source(self.mailbox)
        if not isinstance(source, ImapSource):
            return
        failures = 0
        try:
            while not self._retired.is_set():
                try:
                    source.wait_for_news(IDLE_RENEW_SECONDS, stop=self._retired.is_set,
                                         listening=self._listening)
                except Exception as error:  # noqa: BLE001 - the watcher must outlive anything
                    failures += 1
                    self._report(error, failures)
                    source.close()
                    pause = IDLE_BACKOFF_START * 2 ** (failures - 1)
                    self._retired.wait(min(IDLE_BACKOFF_MAX, pause))
                else:
                    if failures >= IDLE_WARN_AFTER:
                        log.info("%s: IDLE listening again", self.mailbox.name)
                    failures = 0
        finally:
            source.close()

    def _report(self, error: Exception, failures: int) -> None:
        name = self.mailbox.name
        if not isinstance(error, TransientError) and failures == 1:
            log.error("%s: IDLE watcher failed; retrying", name, exc_info=error)
        elif failures == IDLE_WARN_AFTER and not self._mailbox_down():
            log.warning("%s: IDLE keeps failing (%s); new mail waits for the %s poll",
                        name, error, self.mailbox.poll_interval)
        else:
            log.debug("%s: IDLE failed (%d in a row): %s", name, failures, error)


class Generation:
    """The jobs and watchers of one config; a reload retires it for a new one."""

    def __init__(self, config: Config, app: App, scheduler: BackgroundScheduler,
                 outages: dict[str, Outage]) -> None:
        self.config = config
        self.app = app
        self.scheduler = scheduler
        self.outages = outages
        self.retired = threading.Event()
        self.polls = {p.mailbox.name: Serial(self._poller_job(p)) for p in app.pollers}
        self.send = Serial(self._send_once)
        self.escalate = Serial(self._escalate_once)
        # Each watcher starts after its mailbox's first successful poll.
        self.watchers = {
            m.name: IdleWatcher(m, self._listening_callback(m.name), self.retired,
                                self._down_check(m.name))
            for m in config.mailboxes if m.idle and not m.maildir
        }
        self._job_ids: list[str] = []

    def _outage(self, name: str) -> Outage:
        return self.outages.setdefault(name, Outage(name))

    # -- jobs -------------------------------------------------------------------

    def _poller_job(self, poller: MailboxPoller) -> Callable[[], None]:
        return lambda: self._poll_once(poller)

    def _poll_once(self, poller: MailboxPoller) -> None:
        outage = self._outage(f"mailbox {poller.mailbox.name}")
        if self.retired.is_set() or not outage.ready():
            return
        try:
            tally = self._poll_reconnecting(poller)
        except Exception as error:  # noqa: BLE001 - one bad mailbox must not stop the others
            if self.retired.is_set():
                # The connection was closed under a poll that overran a reload.
                log.debug("poll of %s ended by the reload: %s", poller.mailbox.name, error)
                return
            expected = isinstance(error, TransientError | SQLAlchemyError)
            outage.failed(error, unexpected=not expected)
            return
        outage.recovered()
        watcher = self.watchers.get(poller.mailbox.name)
        if watcher is not None and poller.owned:
            # Started only now: the mailbox answers, and its processed folder exists,
            # so the two connections never race to create it.
            watcher.start()
        if tally.total:
            log.info("%s: %s", poller.mailbox.name,
                     ", ".join(f"{n} {k}" for k, n in sorted(tally.counts.items())))
            # New complaints should hear from us now, not at the next send tick.
            self.kick_send()

    def _poll_reconnecting(self, poller: MailboxPoller) -> Tally:
        try:
            return poller.poll(stop=self.retired.is_set)
        except TransientError as error:
            if self.retired.is_set():
                raise
            # A connection left idle between polls may have been dropped by the
            # server or a NAT box; one fresh attempt tells that from an outage.
            log.debug("%s: %s; reconnecting once", poller.mailbox.name, error)
            return poller.poll(stop=self.retired.is_set)

    def _send_once(self) -> None:
        outage = self._outage("sending")
        if self.retired.is_set() or not outage.ready():
            return
        try:
            # SMTP outages are the sender's own business (logged once, letters back off).
            self.app.sender.drain()
        except Exception as error:  # noqa: BLE001 - e.g. the database is away
            outage.failed(error, unexpected=not isinstance(error, SQLAlchemyError))
            return
        outage.recovered()

    def _escalate_once(self) -> None:
        outage = self._outage("escalation")
        if self.retired.is_set() or not outage.ready():
            return
        try:
            report = self.app.escalator.run()
            # The satisfaction checks and quiet closes ride on the same cheap job.
            asked = (self.app.satisfaction.run(at_most_every=SATISFACTION_EVERY_SECONDS)
                     if self.app.satisfaction is not None else 0)
        except Exception as error:  # noqa: BLE001 - e.g. the database is away
            outage.failed(error, unexpected=not isinstance(error, SQLAlchemyError))
            return
        outage.recovered()
        if report.letters or asked:
            self.kick_send()

    def kick_poll(self, name: str) -> None:
        """Poll `name` now (an IDLE watcher is listening, so the server is up)."""
        self._outage(f"mailbox {name}").retry_now()
        self._run_soon(self.polls[name], f"poll now:{name}")

    def kick_send(self) -> None:
        self._run_soon(self.send, "send now")

    def _run_soon(self, job: Serial, name: str) -> None:
        if not self.retired.is_set():
            self.scheduler.add_job(job, name=name, misfire_grace_time=None)

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        for poller in self.app.pollers:
            mailbox = poller.mailbox
            job_id = f"poll:{mailbox.name}"
            # Two instances at most may overlap, and the second returns at once
            # through Serial: a poll longer than its interval is not a warning.
            self.scheduler.add_job(
                self.polls[mailbox.name], "interval", id=job_id, name=job_id,
                seconds=mailbox.poll_interval.total_seconds(), next_run_time=_now(),
                max_instances=2, coalesce=True, misfire_grace_time=None,
            )
            self._job_ids.append(job_id)
        self.scheduler.add_job(self.send, "interval", id="send", name="send",
                               seconds=SEND_EVERY_SECONDS, max_instances=2, coalesce=True,
                               misfire_grace_time=None)
        self._job_ids.append("send")
        self.scheduler.add_job(self.escalate, "interval", id="escalate", name="escalate",
                               seconds=ESCALATE_EVERY_SECONDS, next_run_time=_now(),
                               max_instances=2, coalesce=True, misfire_grace_time=None)
        self._job_ids.append("escalate")

    def _listening_callback(self, name: str) -> Callable[[], None]:
        return lambda: self.kick_poll(name)

    def _down_check(self, name: str) -> Callable[[], bool]:
        return lambda: self._outage(f"mailbox {name}").down

    def retire(self) -> None:
        """Stop this generation's jobs and watchers; the app's connections stay open."""
        self.retired.set()
        for job_id in self._job_ids:
            job = self.scheduler.get_job(job_id)
            if job is not None:
                job.remove()
        deadline = time.monotonic() + RETIRE_WAIT_SECONDS
        for watcher in self.watchers.values():
            watcher.join(max(0.0, deadline - time.monotonic()))
        for job in [*self.polls.values(), self.send, self.escalate]:
            if not job.wait(max(0.0, deadline - time.monotonic())):
                log.warning("a job of the old configuration is still running; going on")

    def drain_letters(self) -> None:
        """Send every letter that is due now (the last act before exit)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                if self.app.sender.send_due() == 0:
                    return
            except Exception as error:  # noqa: BLE001 - exit cleanly; the letters stay queued
                log.error("sending on shutdown failed, letters stay queued: %s", error)
                return


class Daemon:
    def __init__(self, config: Config, built: App) -> None:
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._outages: dict[str, Outage] = {}
        self.generation = Generation(config, built, self.scheduler, self._outages)

    @property
    def config(self) -> Config:
        return self.generation.config

    @property
    def app(self) -> App:
        return self.generation.app

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status (0 after a clean drain)."""
        wake_r, wake_w = socket.socketpair()
        wake_w.setblocking(False)
        previous_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        previous = {signum: signal.signal(signum, _noted) for signum in SIGNALS}
        try:
            self.generation.start()
            self.scheduler.start()
            log.info("triaged running: %d mailbox(es)", len(self.app.pollers))
            sd_notify("READY=1")
            self._serve(wake_r)
            return self._shutdown()
        finally:
            signal.set_wakeup_fd(previous_fd)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            wake_r.close()
            wake_w.close()

    def _serve(self, wake: socket.socket) -> None:
        """Handle signals in order until one says stop."""
        while True:
            for signum in wake.recv(64):
                if signum == signal.SIGHUP:
                    self._reload()
                elif signum in (signal.SIGTERM, signal.SIGINT):
                    return

    def _reload(self) -> None:
        path = self.config.path
        # MONOTONIC_USEC lets a later Type=notify-reload unit use the same message.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        sd_notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")
        try:
            self._replace(path)
        except Exception:
            # A bug in reloading must not take the running service down with it.
            log.exception("reload failed; the service goes on with what is running")
        finally:
            sd_notify("READY=1")

    def _replace(self, path: str) -> None:
        try:
            config = config_module.load(path)
        except ConfigError as error:
            log.error("reload refused, keeping the running config; %d problem(s): %s",
                      len(error.problems), "; ".join(error.problems))
            return
        old = self.generation
        same_db = config.database.url == old.config.database.url
        try:
            built = wiring.build(config, engine=old.app.engine if same_db else None)
        except Exception as error:  # noqa: BLE001 - the old config keeps running
            log.error("reload refused, keeping the running config: cannot start with it: "
                      "%s: %s", type(error).__name__, error)
            return
        old.retire()
        old.app.close()
        if not same_db:
            old.app.engine.dispose()
        # A corrected host or password deserves a try now, not after the back-off.
        for outage in self._outages.values():
            outage.retry_now()
        self.generation = Generation(config, built, self.scheduler, self._outages)
        self.generation.start()
        log.info("configuration and templates reloaded from %s", path)

    def _shutdown(self) -> int:
        log.info("stopping: finishing the work in hand")
        sd_notify("STOPPING=1")
        current = self.generation
        # A running poll finishes its current message and marks what is done.
        current.retire()
        self.scheduler.shutdown(wait=True)
        current.drain_letters()
        current.app.close()
        current.app.engine.dispose()
        log.info("stopped")
        return 0


def _noted(_signum: int, _frame: FrameType | None) -> None:
    """Installed so the signals do not kill us; the wake-up socket carries them."""


def _now() -> datetime:
    return datetime.now(UTC)


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
