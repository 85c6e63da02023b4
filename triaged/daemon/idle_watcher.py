"""The IDLE watcher: a thread per mailbox that asks for a poll when news may have come.

It holds a second IMAP connection in IDLE and calls `listening` each time IDLE
(re)starts, which covers both new mail and whatever arrived while it was not
listening. The poll job stays the authority; the watcher only makes it prompt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from triaged import app as wiring
from triaged.adapters.imap import ImapSource
from triaged.config.records import MailboxConfig
from triaged.domain.errors import TransientError

log = logging.getLogger("triaged.daemon")

# An IDLE watcher retries sooner (0.5 s doubling to a minute): while it is
# down, new mail waits for poll_interval.
IDLE_BACKOFF_START, IDLE_BACKOFF_MAX = 0.5, 60.0
# RFC 2177: a client should re-issue IDLE at least every 29 minutes. Ten keeps
# us well inside that and inside the idle timeouts of common NAT boxes.
IDLE_RENEW_SECONDS = 600.0
# Consecutive IDLE failures (while polling works) before one warning is logged.
IDLE_WARN_AFTER = 6


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
