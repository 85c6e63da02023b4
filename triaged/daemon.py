"""The long-running service: apscheduler jobs, IDLE watchers, signals.

Jobs follow STYLE-ANCHORS rule 1: each drains a one-step use case. A mailbox
that cannot be reached is logged once per outage and retried with growing
pauses; nothing here lets one bad mailbox stop the others or the sender.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from triaged import app as wiring
from triaged import config as config_module
from triaged.app import App
from triaged.config import Config
from triaged.errors import ConfigError, TransientError
from triaged.polling import MailboxPoller

log = logging.getLogger("triaged.daemon")

SEND_EVERY_SECONDS = 5.0
# Pauses after consecutive failures of one mailbox: 5 s doubling to 10 minutes.
BACKOFF_START, BACKOFF_MAX = 5.0, 600.0
# Letters due within this many seconds are still sent on SIGTERM.
DRAIN_SECONDS = 20.0


class Outage:
    """Back-off state of one mailbox: one log line when it goes, one when it returns."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self.retry_at = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.retry_at

    def failed(self, error: Exception) -> None:
        self.failures += 1
        pause = min(BACKOFF_MAX, BACKOFF_START * 2 ** (self.failures - 1))
        self.retry_at = time.monotonic() + pause
        if self.failures == 1:
            log.error("%s: %s; retrying with back-off", self.name, error)
        else:
            log.debug("%s still unreachable (%d failures): %s", self.name, self.failures, error)

    def recovered(self) -> None:
        if self.failures:
            log.info("%s reachable again after %d failed attempt(s)", self.name, self.failures)
        self.failures = 0
        self.retry_at = 0.0


class Daemon:
    def __init__(self, config: Config, built: App) -> None:
        self.config = config
        self.app = built
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self._outages: dict[str, Outage] = {}
        self._lock = threading.Lock()

    # -- jobs -------------------------------------------------------------------

    def _poll_job(self, poller: MailboxPoller) -> None:
        name = poller.mailbox.name
        outage = self._outages.setdefault(name, Outage(f"mailbox {name}"))
        if self.stopping.is_set() or not outage.ready():
            return
        try:
            tally = poller.poll(stop=self.stopping.is_set)
        except TransientError as error:
            outage.failed(error)
            return
        except Exception as error:
            log.exception("poll of %s failed", poller.mailbox.name)
            outage.failed(error)
            return
        outage.recovered()
        if tally.total:
            log.info("%s: %s", poller.mailbox.name, tally.counts)
            # New complaints should hear from us within the cycle, not at the next tick.
            self._kick("send")

    def _send_job(self) -> None:
        if self.stopping.is_set():
            return
        try:
            self.app.sender.drain()
        except Exception:
            log.exception("sending failed")

    def _kick(self, job_id: str) -> None:
        job = self.scheduler.get_job(job_id)
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))

    # -- IDLE -------------------------------------------------------------------

    def _idle_watch(self, poller: MailboxPoller) -> None:
        """A second connection sits in IDLE and wakes the poll job on new mail."""
        source = wiring.make_source(poller.mailbox)
        job_id = f"poll:{poller.mailbox.name}"
        while not self.stopping.is_set():
            try:
                if source.wait_for_news(timeout=60.0):
                    self._kick(job_id)
            except TransientError:
                source.close()
                self.stopping.wait(BACKOFF_START)
        source.close()

    # -- lifecycle --------------------------------------------------------------

    def _schedule(self) -> None:
        for poller in self.app.pollers:
            self.scheduler.add_job(
                self._poll_job, "interval", args=[poller], id=f"poll:{poller.mailbox.name}",
                seconds=poller.mailbox.poll_interval.total_seconds(),
                next_run_time=datetime.now(UTC), max_instances=1, coalesce=True,
            )
            if poller.mailbox.idle and not poller.mailbox.maildir:
                threading.Thread(target=self._idle_watch, args=[poller],
                                 name=f"idle-{poller.mailbox.name}", daemon=True).start()
        self.scheduler.add_job(self._send_job, "interval", id="send",
                               seconds=SEND_EVERY_SECONDS, max_instances=1, coalesce=True)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested.set()
        else:
            self.stopping.set()

    def _reload(self) -> None:
        path = self.config.path
        try:
            config = config_module.load(path)
        except ConfigError as error:
            log.error("reload refused, keeping the running config: %s",
                      "; ".join(error.problems))
            return
        self.scheduler.pause()
        try:
            self.scheduler.remove_all_jobs()
            self.app.close()
            self.config = config
            self.app = wiring.build(config, engine=self.app.engine)
        finally:
            self._schedule()
            self.scheduler.resume()
        log.info("configuration and templates reloaded from %s", path)

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the exit status."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        self._schedule()
        self.scheduler.start()
        log.info("triaged running: %d mailbox(es)", len(self.app.pollers))
        while not self.stopping.is_set():
            self.stopping.wait(0.5)
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self._reload()
        log.info("stopping: finishing the work in hand")
        # Running jobs finish their current message; then due letters go out.
        self.scheduler.shutdown(wait=True)
        self._drain_letters()
        self.app.close()
        log.info("stopped")
        return 0

    def _drain_letters(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                if self.app.sender.send_due() == 0:
                    return
            except Exception:
                log.exception("sending on shutdown failed")
                return
