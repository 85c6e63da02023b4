"""What this process did, as Prometheus counters (the `triaged_` events since start).

Counters count events this process saw: messages read (by outcome, from the
poll's Tally), polls, delivery attempts. They start at zero with the process, as
Prometheus expects of counters (`rate()` and `increase()` handle the reset), and
add up across instances. Numbers that describe the state of the service — the
outbox, open complaints, the last poll — are read from the database at scrape
time instead (`ops.scrape`), so they are right after a restart and the same
whichever instance is asked.

Each `Metrics` has its own registry: two daemons in one test process, or a
reload, never share or double-register a metric.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter

# Every message ends as exactly one of these (the keys of `stats --json`).
OUTCOMES = ("complaint", "follow_up", "not_complaint", "quarantined", "approval_reply",
            "duplicate")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "triaged_messages", "Messages read from a mailbox, by what became of them.",
            ["mailbox", "outcome"], registry=self.registry)
        self.polls = Counter(
            "triaged_polls", "Polls of a mailbox, by result (ok: read to the end).",
            ["mailbox", "result"], registry=self.registry)
        self.deliveries = Counter(
            "triaged_deliveries",
            "Letters handed to the SMTP server, by result: sent, or refused "
            "temporary (retried with back-off) or permanent (given up, staff told).",
            ["result"], registry=self.registry)

    def watch_mailbox(self, name: str) -> None:
        """Show every series of `name` at zero from the start, so alerts see a baseline."""
        for outcome in OUTCOMES:
            self.messages.labels(name, outcome)
        for result in ("ok", "failed"):
            self.polls.labels(name, result)
        for result in ("sent", "temporary", "permanent"):
            self.deliveries.labels(result)

    def polled(self, mailbox: str, counts: Mapping[str, int]) -> None:
        """A poll of `mailbox` read to the end; `counts` is its Tally, by outcome."""
        self.polls.labels(mailbox, "ok").inc()
        for outcome, count in counts.items():
            self.messages.labels(mailbox, outcome).inc(count)

    def poll_failed(self, mailbox: str) -> None:
        self.polls.labels(mailbox, "failed").inc()

    def delivered(self, *, accepted: bool, permanent: bool) -> None:
        """One answer of the SMTP server to one letter."""
        result = "sent" if accepted else "permanent" if permanent else "temporary"
        self.deliveries.labels(result).inc()
