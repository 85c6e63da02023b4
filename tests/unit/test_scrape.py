"""The database collector: what one scrape shows, and a scrape while the database is away."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine

from tests.support.ops_store import NOW, complaint, config, letter
from triaged.ops.scrape import DatabaseCollector, Target
from triaged.store.db import make_engine


def scrape(target: Target) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(lambda: target))
    lines = generate_latest(registry).decode().splitlines()
    return {name: float(number) for name, number in
            (line.rsplit(" ", 1) for line in lines if not line.startswith("#"))}


def test_a_scrape_shows_every_open_state_every_ladder_level_and_the_mailboxes(
    engine: Engine,
) -> None:
    complaint(engine, "in_progress", due=NOW.replace(year=2025), level=1)
    letter(engine, "queued", NOW.replace(hour=8, minute=30))
    shown = scrape(Target(config(), engine, NOW))
    assert shown['triaged_complaints_open{state="in_progress"}'] == 1
    assert shown['triaged_complaints_open{state="received"}'] == 0  # zero, not absent
    assert shown['triaged_complaints_overdue{escalation_level="1"}'] == 1
    assert shown['triaged_complaints_overdue{escalation_level="0"}'] == 0
    assert shown['triaged_mailbox_last_poll_timestamp_seconds{mailbox="sales"}'] == 0
    assert shown["triaged_outbox_waiting_letters"] == 1
    assert shown["triaged_outbox_oldest_waiting_seconds"] == 1800
    assert shown['triaged_loops_prevented_total{reason="rate-limit"}'] == 0
    assert shown["triaged_database_up"] == 1
    assert shown["triaged_healthy"] == 0  # no mailbox was ever polled


def test_a_scrape_while_the_database_cannot_be_read_says_so_instead_of_failing(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.db").write_bytes(b"not a database" * 100)
    broken = make_engine(f"sqlite:///{tmp_path / 'broken.db'}")
    try:
        shown = scrape(Target(config(), broken, NOW))
    finally:
        broken.dispose()
    assert shown == {"triaged_database_up": 0}
