"""What a metrics scrape and `triaged health` read from the store, and how they judge it."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.ops_store import MINUTE, NOW, add, complaint, config, event, letter, message
from triaged.ops.health import check_health, judge
from triaged.store import cursor_rows, ops_queries, suppression
from triaged.store.db import make_engine, write_transaction
from triaged.store.ops_queries import OpsFigures, Outbox


def read(engine: Engine) -> OpsFigures:
    with engine.connect() as conn:
        return ops_queries.read_figures(conn, NOW)


def test_an_empty_store_reads_as_nothing_to_do(engine: Engine) -> None:
    assert read(engine) == OpsFigures()


def test_open_and_overdue_complaints_leave_out_the_resolved_and_closed(engine: Engine) -> None:
    complaint(engine, "acknowledged", due=NOW + MINUTE)
    complaint(engine, "acknowledged", due=NOW - MINUTE)
    complaint(engine, "in_progress", due=NOW - MINUTE, level=1)
    complaint(engine, "awaiting_approval", due=NOW - MINUTE, level=2)
    complaint(engine, "resolved", due=NOW - MINUTE, level=2)
    complaint(engine, "closed", due=NOW - MINUTE)
    figures = read(engine)
    assert figures.open_by_state == {"acknowledged": 2, "in_progress": 1,
                                     "awaiting_approval": 1}
    assert figures.overdue_by_level == {0: 1, 1: 1, 2: 1}


def test_the_outbox_counts_waiting_and_failed_and_finds_the_oldest_waiting(
    engine: Engine,
) -> None:
    letter(engine, "sent", NOW - 60 * MINUTE)
    letter(engine, "queued", NOW - 7 * MINUTE)
    letter(engine, "sending", NOW - 9 * MINUTE)
    letter(engine, "failed", NOW - 90 * MINUTE)
    assert read(engine).outbox == Outbox(waiting=2, oldest_waiting_since=NOW - 9 * MINUTE,
                                         failed=1)


def test_decisions_robots_rate_limits_and_quarantine_are_counted(engine: Engine) -> None:
    for kind in ("approved", "approved", "rejected", "reply_accepted", "reply_refused",
                 "registered", "letter_sent"):
        event(engine, kind)
    event(engine, "letter_suppressed", '{"kind": "holding", "why": "rate limit 3/24h"}')
    event(engine, "letter_suppressed", '{"kind": "holding", "why": "address bounced hard"}')
    for outcome, rule in (("not_complaint", "auto-submitted"), ("not_complaint", "auto-submitted"),
                          ("not_complaint", "delivery-report"), ("complaint", "complaint")):
        message(engine, outcome, rule)
    row = message(engine, "quarantined", "unparseable")
    add(engine, "quarantine", message_row_id=row, reason="no sender", state="open",
        created_at=NOW)
    add(engine, "quarantine", message_row_id=row, reason="no sender", state="discarded",
        created_at=NOW)
    figures = read(engine)
    assert figures.decisions == {"approved": 2, "rejected": 1, "reply_accepted": 1,
                                 "reply_refused": 1, "letter_suppressed": 2}
    assert figures.unanswered_by_rule == {"auto-submitted": 2, "delivery-report": 1}
    assert figures.rate_limited == 1
    assert figures.open_quarantine == 1


def test_a_cursor_write_records_the_poll_and_a_plain_one_keeps_it(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        cursor_rows.write_cursor(conn, "support", "INBOX", 7, 10, polled_at=NOW - MINUTE)
        cursor_rows.write_cursor(conn, "support", "Archive", 7, 3, polled_at=NOW - 9 * MINUTE)
        cursor_rows.write_cursor(conn, "sales", "INBOX", 3, 1)
    assert read(engine).polled_at == {"support": NOW - MINUTE, "sales": None}
    with write_transaction(engine) as conn:
        cursor_rows.write_cursor(conn, "support", "INBOX", 7, 11)
    assert read(engine).polled_at["support"] == NOW - MINUTE


# ---- the verdict -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("support_age", "sales_age", "problems"),
    [
        (MINUTE, 20 * MINUTE, []),
        # support polls every minute: 5 minutes is its limit; sales every 10: 30 minutes.
        (6 * MINUTE, 20 * MINUTE,
         ["mailbox support: polling has stalled: last successful poll 6 min ago "
          "(limit 5 min)"]),
        (MINUTE, 31 * MINUTE,
         ["mailbox sales: polling has stalled: last successful poll 31 min ago "
          "(limit 30 min)"]),
        (None, MINUTE, ["mailbox support: never polled successfully"]),
    ],
)
def test_each_mailbox_must_have_been_polled_within_its_limit(
    support_age: timedelta | None, sales_age: timedelta, problems: list[str]
) -> None:
    polled: dict[str, datetime | None] = {
        "support": NOW - support_age if support_age else None, "sales": NOW - sales_age,
        "removed-from-config": NOW - 100 * MINUTE}
    verdict = judge(config(), OpsFigures(polled_at=polled), NOW)
    assert verdict.problems == problems
    assert verdict.healthy is (not problems)


def test_stall_after_overrides_the_limit_of_every_mailbox() -> None:
    polled: dict[str, datetime | None] = {"support": NOW - 2 * MINUTE, "sales": NOW - 2 * MINUTE}
    verdict = judge(config(metrics__stall_after="90s"), OpsFigures(polled_at=polled), NOW)
    assert [p.split(":")[0] for p in verdict.problems] == ["mailbox support", "mailbox sales"]


@pytest.mark.parametrize(("waiting_for", "healthy"), [
    (14 * MINUTE, True),
    (16 * MINUTE, False),
])
def test_a_letter_waiting_longer_than_send_stall_after_is_a_stall(
    waiting_for: timedelta, healthy: bool
) -> None:
    polled: dict[str, datetime | None] = {"support": NOW, "sales": NOW}
    figures = OpsFigures(polled_at=polled,
                         outbox=Outbox(waiting=3, oldest_waiting_since=NOW - waiting_for))
    verdict = judge(config(), figures, NOW)
    assert verdict.healthy is healthy
    if not healthy:
        assert verdict.problems == [
            "sending has stalled: the oldest of 3 waiting letter(s) was queued 16 min ago "
            "(limit 15 min); is the SMTP server refusing, or is nothing sending?"]
        assert verdict.as_json()["outbox"] == {"waiting": 3, "oldest_waiting_seconds": 960.0,
                                               "failed": 0, "stall_after_seconds": 900.0}


def test_a_database_that_cannot_be_read_is_unhealthy(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-db"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder / 'x.db'}")
    (folder / "x.db").write_bytes(b"this is not a database" * 100)
    try:
        verdict = check_health(config(), engine, NOW)
    finally:
        engine.dispose()
    assert not verdict.healthy
    assert verdict.problems[0].startswith("database: cannot read it: ")


def test_a_database_behind_the_schema_is_unhealthy_and_says_what_to_do(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        verdict = check_health(config(), engine, NOW)
    finally:
        engine.dispose()
    assert verdict.problems == ["database: schema is at nothing, this triaged needs "
                                "0014_claim_order (starting the daemon migrates it)"]


def test_a_suppressed_or_failing_address_of_the_business_is_unhealthy_a_customer_is_not(
    engine: Engine,
) -> None:
    """Rows written before the business's own addresses were protected stay visible."""
    healthy_polls: dict[str, datetime | None] = {"support": NOW, "sales": NOW}
    for email, stops in (("team@acme.example", True), ("dana@acme.example", False),
                         ("c1@example.test", True)):
        add(engine, "suppressed_address", email=email, reason="bounced (hard): 5.1.1",
            created_at=NOW - MINUTE, stops_mail=stops)
    settings = config(staff__notify=["Team@acme.example"],
                      managers=[{"email": "dana@acme.example", "name": "Dana", "level": 1}])
    with engine.connect() as conn:
        figures = ops_queries.read_figures(conn, NOW)
        failing = suppression.open_problems(conn, settings.own_addresses())
    verdict = judge(settings, OpsFigures(polled_at=healthy_polls, outbox=figures.outbox), NOW,
                    failing)

    assert len(verdict.problems) == 2
    dana, team = verdict.problems
    assert dana.startswith("address dana@acme.example: mail to this address")
    assert team.startswith("address team@acme.example: the business's own address is "
                           "suppressed")
    assert "triaged suppression lift team@acme.example" in team
