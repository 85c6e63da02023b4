"""The long-running service: apscheduler jobs, IDLE watchers, signals, sd_notify.

Each mailbox has a poll job and, with `idle = true`, an IDLE watcher: a thread
on a second connection that asks for a poll whenever it is (again) listening,
which covers both new mail and whatever arrived while it was not listening.
One escalation job reminds staff and escalates overdue complaints (a cheap
indexed scan, so it runs often: second-scale ladders work in real time), and
one send job delivers the outbox, woken by every batch a poll commits (on a
backlog the first holding replies leave while later batches are read). Each
job drains a use case that does one unit of work per call and says whether
there was any; jobs run through
`Serial`: one thread at a time per job, and a wake-up that comes while the
job runs makes it run once more instead of being lost.

A mailbox that cannot be reached is logged once per outage and retried with
growing pauses; nothing here lets one bad mailbox stop the others or the sender.

systemd hears READY=1 once every mailbox has been polled once (or START_WAIT
has passed), STATUS= lines, and watchdog pings only while the jobs show signs
of life (triaged/daemon/watchdog.py).

Signals are read from a wake-up socket by the main thread, so SIGHUP's reload
and SIGTERM's drain run as ordinary code, never inside a signal handler.
A reload builds a new `Generation` (config, app, jobs, watchers); only once it
is built is the old one retired: its jobs are removed, a running poll stops
after its current message, its watchers leave IDLE and its connections close.
"""

from __future__ import annotations

import logging
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
from triaged.app import App
from triaged.config import loading as config_module
from triaged.config.records import Config
from triaged.daemon.idle_watcher import IdleWatcher
from triaged.daemon.watchdog import (
    Heartbeat,
    Notifier,
    Pulse,
    announce_ready,
    sd_notify,
    status_line,
    watchdog_seconds,
)
from triaged.domain.errors import ConfigError, TransientError
from triaged.ops.observe import Observer
from triaged.store import queries
from triaged.store.db import transaction
from triaged.usecases.intake import Tally
from triaged.usecases.polling import MailboxPoller

log = logging.getLogger("triaged.daemon")

SEND_EVERY_SECONDS = 5.0
# The escalation scan reads only what is due (≤ 200 ms for 100 000 open
# complaints, in practice well under a millisecond when nothing is), so a short
# period costs little and keeps reminders on time.
ESCALATE_EVERY_SECONDS = 2.0
# Satisfaction checks wait days: looking once a minute is plenty.
SATISFACTION_EVERY_SECONDS = 60.0
# Retention counts in days: an hourly look is plenty (and the first is at start).
RETENTION_EVERY_SECONDS = 3600.0
# The owner's report is due at a minute of the week or month: its clock is
# looked at twice a minute, and its period claimed once.
REPORT_EVERY_SECONDS = 30.0
# Pauses after consecutive failures of one mailbox: 5 s doubling to 10 minutes.
BACKOFF_START, BACKOFF_MAX = 5.0, 600.0
# Letters due within this many seconds are still sent on SIGTERM.
DRAIN_SECONDS = 20.0
# How long a reload or a stop waits for a running job to finish its message.
RETIRE_WAIT_SECONDS = 30.0
SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# READY=1 waits for every mailbox's first poll, but no longer than this: a slow
# or hanging server must not make `systemctl start` time out while the other
# mailboxes, the sender and the escalations work (STATUS= names the laggard).
START_WAIT_SECONDS = 30.0


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

    def __init__(self, work: Callable[[], None], pulse: Pulse | None = None) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        # Told when the work starts and ends, for the watchdog (not for calls that wait).
        self.pulse = pulse or Pulse(0.0)

    def __call__(self) -> None:
        self._wanted.set()
        while self._wanted.is_set():
            if not self._lock.acquire(blocking=False):
                return  # the running call sees `_wanted` and goes again
            try:
                self._wanted.clear()
                self.pulse.started()
                self._work()
            finally:
                self.pulse.ended()
                self._lock.release()

    def wait(self, timeout: float) -> bool:
        """Wait until no call is running; False when `timeout` passed first."""
        if not self._lock.acquire(timeout=timeout):
            return False
        self._lock.release()
        return True


class Generation:
    """The jobs and watchers of one config; a reload retires it for a new one."""

    def __init__(self, config: Config, app: App, scheduler: BackgroundScheduler,
                 outages: dict[str, Outage], observer: Observer,
                 heartbeat: Heartbeat | None = None) -> None:
        self.config = config
        self.app = app
        self.observer = observer
        observer.attach(app)
        self.scheduler = scheduler
        self.outages = outages
        self.retired = threading.Event()
        self.heartbeat = heartbeat or Heartbeat()
        self.polls = {
            p.mailbox.name: Serial(self._poller_job(p), self.heartbeat.pulse(
                f"poll:{p.mailbox.name}", p.mailbox.poll_interval.total_seconds()))
            for p in app.pollers
        }
        self.send = Serial(self._send_once, self.heartbeat.pulse("send", SEND_EVERY_SECONDS))
        self.escalate = Serial(self._escalate_once,
                               self.heartbeat.pulse("escalate", ESCALATE_EVERY_SECONDS))
        # Each mailbox's first poll: "" when it answered, else why not (for READY=1).
        self.first_polls: dict[str, str] = {}
        # Letters waiting in the outbox, as the send job last counted them (for STATUS=).
        self.queued = 0
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
            self.first_polls.setdefault(poller.mailbox.name, str(error) or type(error).__name__)
            self.observer.poll_failed(poller.mailbox.name)
            return
        outage.recovered()
        self.first_polls[poller.mailbox.name] = ""
        self.observer.polled(poller.mailbox.name, tally.counts)
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
            return self._poll_sending(poller)
        except TransientError as error:
            if self.retired.is_set():
                raise
            # A connection left idle between polls may have been dropped by the
            # server or a NAT box; one fresh attempt tells that from an outage.
            log.debug("%s: %s; reconnecting once", poller.mailbox.name, error)
            return self._poll_sending(poller)

    def _poll_sending(self, poller: MailboxPoller) -> Tally:
        """One poll whose committed batches wake the send job as they go, so on a
        backlog the first holding replies leave while later batches are read."""
        pulse = self.polls[poller.mailbox.name].pulse
        tally, polling, answered = Tally(), threading.get_ident(), 0

        def stop() -> bool:
            nonlocal answered
            pulse.progressed()  # asked after each batch: a long backlog is progress
            # The polling thread asks between batches, when what the tally counts is
            # committed (reading threads ask mid-batch: not them).
            if threading.get_ident() == polling and tally.total > answered:
                answered = tally.total
                self.kick_send()
            return self.retired.is_set()

        return poller.poll(tally, stop=stop)

    def _send_once(self) -> None:
        outage = self._outage("sending")
        if self.retired.is_set() or not outage.ready():
            return
        try:
            # SMTP outages are the sender's own business (logged once, letters back off).
            self.app.sender.drain(progress=self.send.pulse.progressed)
            with transaction(self.app.engine) as session:
                self.queued = queries.queued_letters(session)
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
            # So do the staff digests: one indexed read of the held notices.
            asked += self.app.digests.run() if self.app.digests is not None else 0
            if self.app.privacy is not None:
                self.app.privacy.run_retention(at_most_every=RETENTION_EVERY_SECONDS)
            # And the owner's report: a clock check, then one claim per period.
            asked += (self.app.reports.run_scheduled(at_most_every=REPORT_EVERY_SECONDS)
                      if self.app.reports is not None else 0)
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
        # At once, too: letters a killed predecessor had in flight go out now.
        self.scheduler.add_job(self.send, "interval", id="send", name="send",
                               seconds=SEND_EVERY_SECONDS, next_run_time=_now(),
                               max_instances=2, coalesce=True, misfire_grace_time=None)
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
        for name, job in [*((f"poll:{n}", j) for n, j in self.polls.items()),
                          ("send", self.send), ("escalate", self.escalate)]:
            self.heartbeat.forget(name, job.pulse)

    def drain_letters(self) -> None:
        """Send every letter that is due now (the last act before exit)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                # An SMTP server that is away stays away for these few seconds.
                if self.app.sender.send_due() == 0 or self.app.sender.smtp_down:
                    return
            except Exception as error:  # noqa: BLE001 - exit cleanly; the letters stay queued
                log.error("sending on shutdown failed, letters stay queued: %s", error)
                return


class Daemon:
    def __init__(self, config: Config, built: App,
                 on_reload: Callable[[Config], None] = lambda _config: None) -> None:
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._outages: dict[str, Outage] = {}
        self._heartbeat = Heartbeat()
        self.observer = Observer(lambda: self.generation.app)
        self.generation = Generation(config, built, self.scheduler, self._outages,
                                     self.observer, self._heartbeat)
        # Applies the new config's [logging] (format, level, secrets) on SIGHUP.
        self._on_reload = on_reload
        self._ready = threading.Event()
        self._started = time.monotonic()
        self._notifier = Notifier(self._heartbeat, self.summary, watchdog_seconds())

    @property
    def config(self) -> Config:
        return self.generation.config

    @property
    def app(self) -> App:
        return self.generation.app

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status (0 after a clean drain)."""
        if not self.observer.start():
            return 1  # the metrics listener could not bind; the reason is logged
        wake_r, wake_w = socket.socketpair()
        wake_w.setblocking(False)
        previous_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        previous = {signum: signal.signal(signum, _noted) for signum in SIGNALS}
        try:
            self.generation.start()
            self.scheduler.start()
            log.info("triaged running: %d mailbox(es)", len(self.app.pollers))
            self._notifier.start()
            self._serve(wake_r)
            return self._shutdown()
        finally:
            self.observer.stop()
            signal.set_wakeup_fd(previous_fd)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            wake_r.close()
            wake_w.close()

    def _serve(self, wake: socket.socket) -> None:
        """Handle signals in order until one says stop; say READY=1 once ready."""
        wake.settimeout(0.1)
        while True:
            if not self._ready.is_set():
                self._check_ready()
            else:
                wake.settimeout(None)
            try:
                received = wake.recv(64)
            except TimeoutError:
                continue
            for signum in received:
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
            if self._ready.is_set():
                sd_notify("READY=1")

    def _check_ready(self) -> None:
        names = [p.mailbox.name for p in self.app.pollers]
        waited = time.monotonic() - self._started
        if announce_ready(names, self.generation.first_polls, waited >= START_WAIT_SECONDS,
                          self.summary()):
            self._ready.set()

    def summary(self) -> str:
        generation = self.generation
        names = [p.mailbox.name for p in generation.app.pollers]
        down = [n for n in names if self._outages.get(f"mailbox {n}", Outage("")).down]
        return status_line(names, down, smtp_down=generation.app.sender.smtp_down,
                           queued=generation.queued)

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
        self._on_reload(config)
        self.generation = Generation(config, built, self.scheduler, self._outages,
                                     self.observer, self._heartbeat)
        self.generation.start()
        log.info("configuration and templates reloaded from %s", path)

    def _shutdown(self) -> int:
        log.info("stopping: finishing the work in hand")
        # No READY, STATUS or WATCHDOG after STOPPING=1.
        self._notifier.stop()
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
