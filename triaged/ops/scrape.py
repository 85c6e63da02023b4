"""The state of the service, read from the database at each Prometheus scrape.

A custom collector rather than gauges kept up to date by the daemon: the
database is the one truth, so the figures are right just after a restart, the
same from every instance sharing a PostgreSQL database, and include what other
processes did (`triaged approve` from a console, a second instance's mailboxes).
Totals that only grow (decisions, robots left unanswered) are exposed as
counters for the same reason. `store/ops_queries.py` keeps each query on an
index; `bench/metrics_scrape.py` measures a scrape on 100 000 complaints.

When the database cannot be read the scrape still answers, with
`triaged_database_up 0`, so the alert says what is wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import NamedTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from triaged.config.records import Config
from triaged.domain.records import ComplaintState, EventKind
from triaged.ops.health import judge
from triaged.store import ops_queries, suppression
from triaged.store.ops_queries import OpsFigures

log = logging.getLogger("triaged.metrics")

OPEN_STATES = tuple(s.value for s in ComplaintState
                    if s not in (ComplaintState.RESOLVED, ComplaintState.CLOSED))
RATE_LIMIT_REASON = "rate-limit"



class Target(NamedTuple):
    """What a scrape reads: the config and engine in force (a SIGHUP may replace both)."""

    config: Config
    engine: Engine
    now: datetime


class DatabaseCollector(Collector):
    def __init__(self, current: Callable[[], Target]) -> None:
        self._current = current
        self._failing = False

    def describe(self) -> Iterator[Metric]:
        """Nothing: registering must not read the database (the registry would call
        `collect` instead)."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        config, engine, now = self._current()
        try:
            with engine.connect() as conn:
                figures = ops_queries.read_figures(conn, now)
                failing = suppression.open_problems(conn, config.own_addresses())
        except SQLAlchemyError as error:
            if not self._failing:  # one line per outage, not one per scrape
                log.error("metrics: cannot read the database: %s", error)
            self._failing = True
            yield _gauge("triaged_database_up", "1 when the database could be read.", 0)
            return
        if self._failing:
            log.info("metrics: the database can be read again")
        self._failing = False
        yield _gauge("triaged_database_up", "1 when the database could be read.", 1)
        yield from _state(config, figures, now.timestamp())
        yield from _totals(figures)
        health = judge(config, figures, now, failing)
        yield _gauge("triaged_healthy", "1 when `triaged health` would pass: every mailbox "
                     "polled recently, no letter waiting too long, no address of the "
                     "business's own failing.", int(health.healthy))
        yield _gauge("triaged_scrape_database_seconds",
                     "Time this scrape spent reading the database.",
                     time.perf_counter() - started)


def _state(config: Config, figures: OpsFigures, now: float) -> Iterator[Metric]:
    polls = GaugeMetricFamily(
        "triaged_mailbox_last_poll_timestamp_seconds",
        "Unix time of the last successful poll of each configured mailbox (0: never).",
        labels=["mailbox"])
    for mailbox in config.mailboxes:
        at = figures.polled_at.get(mailbox.name)
        polls.add_metric([mailbox.name], at.timestamp() if at is not None else 0.0)
    yield polls
    outbox = figures.outbox
    yield _gauge("triaged_outbox_waiting_letters",
                 "Letters queued or being sent (each is due from the moment it is queued).",
                 outbox.waiting)
    oldest = outbox.oldest_waiting_since
    yield _gauge("triaged_outbox_oldest_waiting_seconds",
                 "Age of the oldest letter still waiting to be sent (0: none waits).",
                 max(0.0, now - oldest.timestamp()) if oldest is not None else 0.0)
    yield _gauge("triaged_outbox_failed_letters",
                 "Letters given up on (permanent refusal or too many attempts), for staff.",
                 outbox.failed)
    yield _gauge("triaged_quarantine_open_messages",
                 "Quarantined messages not yet replayed or discarded.", figures.open_quarantine)
    open_by_state = GaugeMetricFamily("triaged_complaints_open",
                                      "Unresolved complaints by state.", labels=["state"])
    for state in OPEN_STATES:
        open_by_state.add_metric([state], figures.open_by_state.get(state, 0))
    yield open_by_state
    overdue = GaugeMetricFamily(
        "triaged_complaints_overdue",
        "Unresolved complaints past their promised date, by escalation level "
        "(0: no manager told yet).", labels=["escalation_level"])
    levels = {0, *(m.level for m in config.managers), *figures.overdue_by_level}
    for level in sorted(levels):
        overdue.add_metric([str(level)], figures.overdue_by_level.get(level, 0))
    yield overdue


def _totals(figures: OpsFigures) -> Iterator[Metric]:
    decided = figures.decisions
    approvals = CounterMetricFamily(
        "triaged_approval_decisions",
        "Final letters approved or rejected by a manager (by email or console).",
        labels=["decision"])
    for kind in (EventKind.APPROVED, EventKind.REJECTED):
        approvals.add_metric([kind.value], decided.get(kind.value, 0))
    yield approvals
    replies = CounterMetricFamily(
        "triaged_reply_decisions",
        "Token-carrying replies (APPROVE, REJECT, edits, ACK, EXTEND): accepted, or "
        "refused as forged, replayed, stale, unauthenticated or not understood.",
        labels=["result"])
    replies.add_metric(["accepted"], decided.get(EventKind.REPLY_ACCEPTED.value, 0))
    replies.add_metric(["refused"], decided.get(EventKind.REPLY_REFUSED.value, 0))
    yield replies
    loops = CounterMetricFamily(
        "triaged_loops_prevented",
        "Mail never answered because a robot sent it (reason: the classify rule that "
        "decided, e.g. auto-submitted, delivery-report), and holding replies held back "
        "by the per-mailbox rate limit (reason: rate-limit) or the overall hourly cap "
        "(reason: hourly-cap), and staff notices held for a digest (reason: staff-digest).",
        labels=["reason"])
    for rule, count in sorted(figures.unanswered_by_rule.items()):
        loops.add_metric([rule], count)
    loops.add_metric([RATE_LIMIT_REASON], figures.rate_limited)
    loops.add_metric(["hourly-cap"], figures.hourly_capped)
    loops.add_metric(["staff-digest"], figures.notices_held)
    yield loops


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
