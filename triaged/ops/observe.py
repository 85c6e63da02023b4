"""Metrics and health wired into the daemon, without the use cases knowing.

The daemon tells the `Observer` what its jobs did (a poll's Tally, a failed
poll); deliveries are counted by wrapping the sender's transport, so neither
`intake`, `polling` nor `sender` imports anything about metrics. The listener
serves /metrics (these counters plus `scrape.DatabaseCollector`) and /health.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from triaged.adapters.ports import Delivery, OnDelivery, Outgoing, Transport
from triaged.app import App
from triaged.ops.health import Health, check_health
from triaged.ops.http import OpsServer
from triaged.ops.metrics import Metrics
from triaged.ops.scrape import DatabaseCollector, Target

log = logging.getLogger("triaged.metrics")


class CountedTransport:
    """A Transport that counts each server answer, then passes it on."""

    def __init__(self, inner: Transport, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    def deliver(self, letters: Iterable[Outgoing], on_delivery: OnDelivery) -> None:
        def counted(delivery: Delivery) -> None:
            self._metrics.delivered(accepted=delivery.accepted, permanent=delivery.permanent)
            on_delivery(delivery)

        self.inner.deliver(letters, counted)

    def probe(self) -> str:
        return self.inner.probe()


class Observer:
    """The counters of one daemon process and, when configured, its HTTP listener."""

    def __init__(self, current: Callable[[], App]) -> None:
        self._current = current
        self.metrics = Metrics()
        self.registry: CollectorRegistry = self.metrics.registry
        self.registry.register(DatabaseCollector(self._target))
        self.server: OpsServer | None = None

    def attach(self, app: App) -> None:
        """Count what `app` (a new one after each reload) sends and reads."""
        if not isinstance(app.sender.transport, CountedTransport):
            app.sender.transport = CountedTransport(app.sender.transport, self.metrics)
        for mailbox in app.config.mailboxes:
            self.metrics.watch_mailbox(mailbox.name)
        settings, server = app.config.metrics, self.server
        running = (server.host, server.port) if server is not None else ("", 0)
        if server is not None and (settings.host, settings.port) != running:
            # Rebinding on a reload could fail and leave no listener at all.
            log.warning("metrics.listen changed; the listener stays on %s:%d until a restart",
                        *running)

    def polled(self, mailbox: str, counts: dict[str, int]) -> None:
        self.metrics.polled(mailbox, counts)

    def poll_failed(self, mailbox: str) -> None:
        self.metrics.poll_failed(mailbox)

    def start(self) -> bool:
        """Open the listener when `[metrics] listen` is set; False (logged) when it cannot."""
        settings = self._current().config.metrics
        if not settings.enabled:
            return True
        server = OpsServer(settings.host, settings.port, self.registry, self.health)
        try:
            server.start()
        except OSError as error:
            log.error("cannot listen for metrics on %s:%d: %s", settings.host, settings.port,
                      error.strerror or error)
            return False
        self.server = server
        return True

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def health(self) -> Health:
        app = self._current()
        return check_health(app.config, app.engine, app.clock.now())

    def _target(self) -> Target:
        app = self._current()
        return Target(app.config, app.engine, app.clock.now())
