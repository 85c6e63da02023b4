"""The limits on automatic mail, each counted by the database: per real mailbox (any
spelling, dots where the provider ignores them), overall per hour, per sender for
staff notices. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select

from tests.support.statements import statements_sent
from triaged.config.records import LimitsConfig
from triaged.domain.mailbox_key import DOTLESS_DOMAINS
from triaged.domain.records import LetterState
from triaged.store import automatic_letters, outbox_rows, rows, suppression
from triaged.store.db import make_engine, write_transaction
from triaged.store.models import metadata
from triaged.store.ownership import lock_until_commit
from triaged.usecases import letter_limits

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
DEFAULTS = LimitsConfig(auto_letters_per_day=3)
_numbers = iter(range(1, 10_000))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _write(conn: Connection, to: str, *, limits: LimitsConfig = DEFAULTS, at: datetime = NOW,
           automatic: bool = True, kind: str = "holding", about: str = "",
           state: LetterState = LetterState.QUEUED, complaint_id: int | None = None) -> int:
    n = next(_numbers)
    letter_id, _event = outbox_rows.queue_letter(
        conn, complaint_id=complaint_id, kind=kind, to_email=to,
        message_id=f"<limit-{n}.triaged@acme.example>", subject="Re: cake", raw=b"x",
        automatic=automatic, now=at, to_key=letter_limits.key_of(limits, to), about_key=about,
        state=state)
    return letter_id


@pytest.mark.parametrize("spellings", [
    ["dana@example.com", "Dana+1@example.com", "DANA+shop@EXAMPLE.com"],
    ["d.ana@gmail.com", "dana+x@googlemail.com", "D.A.N.A@gmail.com"],
])
def test_every_spelling_of_one_mailbox_counts_against_one_limit(
    engine: Engine, spellings: list[str]
) -> None:
    with write_transaction(engine) as conn:
        for address in spellings:
            assert letter_limits.automatic_refused(conn, DEFAULTS, address, NOW) == ""
            _write(conn, address)
        why = letter_limits.automatic_refused(conn, DEFAULTS, spellings[0], NOW)
    assert why == "rate limit 3/24h"


def test_dots_count_only_at_the_domains_that_ignore_them(engine: Engine) -> None:
    shop = LimitsConfig(auto_letters_per_day=1,
                        dotless_domains=DOTLESS_DOMAINS | {"mail.example"})
    with write_transaction(engine) as conn:
        _write(conn, "d.ana@example.com", limits=shop)
        _write(conn, "d.ana@mail.example", limits=shop)
        assert letter_limits.automatic_refused(conn, shop, "dana@example.com", NOW) == ""
        assert letter_limits.automatic_refused(conn, shop, "dana@mail.example", NOW) != ""


def test_letters_outside_the_day_or_written_by_staff_do_not_count(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        _write(conn, "ana@example.com", at=NOW - timedelta(hours=24, seconds=1))
        _write(conn, "ana@example.com", automatic=False)
        _write(conn, "ana@example.com")
        _write(conn, "ana@example.com")
        assert letter_limits.automatic_refused(conn, DEFAULTS, "ana@example.com", NOW) == ""


def test_the_hourly_cap_counts_every_address_and_zero_means_none(engine: Engine) -> None:
    capped = LimitsConfig(auto_letters_per_day=3, auto_letters_per_hour=3)
    uncapped = LimitsConfig(auto_letters_per_day=3, auto_letters_per_hour=0)
    with write_transaction(engine) as conn:
        _write(conn, "old@example.com", at=NOW - timedelta(hours=1, seconds=1))
        for n in range(3):
            _write(conn, f"customer{n}@example.com")
        assert (letter_limits.automatic_refused(conn, capped, "new@example.com", NOW)
                == "hourly cap 3/h on all automatic letters")
        assert letter_limits.automatic_refused(conn, uncapped, "new@example.com", NOW) == ""
        assert automatic_letters.automatic_letters_overall(conn, NOW - timedelta(hours=1), 2) == 2


def test_notices_about_one_sender_are_held_past_the_limit_per_staff_address(
    engine: Engine,
) -> None:
    two = LimitsConfig(auto_letters_per_day=3, staff_notices_per_hour=2)
    with write_transaction(engine) as conn:
        _write(conn, "team@acme.example", kind="new_complaint", about="eve@evil.example",
               automatic=False, at=NOW - timedelta(hours=1, seconds=1))
        for kind in ("new_complaint", "staff_notice"):
            assert not letter_limits.notice_held(conn, two, "team@acme.example",
                                                 "eve@evil.example", NOW)
            _write(conn, "team@acme.example", kind=kind, about="eve@evil.example",
                   automatic=False)
        assert letter_limits.notice_held(conn, two, "Team@acme.example", "eve@evil.example",
                                         NOW)
        assert not letter_limits.notice_held(conn, two, "boss@acme.example",
                                             "eve@evil.example", NOW)
        assert not letter_limits.notice_held(conn, two, "team@acme.example",
                                             "ana@example.com", NOW)
        assert not letter_limits.notice_held(conn, two, "team@acme.example", "", NOW)
        complaint_id = rows.insert_complaint(conn, rows.NewComplaintRow(
            reference="K7M-Q3X9", mailbox="support", customer_email="eve@evil.example",
            customer_name="", subject="cake", language="en", received_at=NOW,
            due_at=NOW + timedelta(days=2), now=NOW))
        held = _write(conn, "team@acme.example", kind="new_complaint",
                      about="eve@evil.example", automatic=False, state=LetterState.HELD,
                      complaint_id=complaint_id)
        assert [n.id for n in outbox_rows.held_notices(conn)] == [held]
        assert (outbox_rows.digest_held(conn, [held], digest="<d1@acme.example>")
                == [("K7M-Q3X9", "cake")])
        # A notice listed in one digest is never listed in another.
        assert outbox_rows.held_notices(conn) == []
        assert outbox_rows.digest_held(conn, [held], digest="<d2@acme.example>") == []


def _queue(conn: Connection, to: str, limits: LimitsConfig) -> tuple[int | None, str]:
    n = next(_numbers)
    letter_id, _event, why = letter_limits.queue_automatic(
        conn, limits, complaint_id=None, kind="holding", to_email=to,
        message_id=f"<gated-{n}.triaged@acme.example>", subject="Re: cake",
        raw=lambda: b"letter", now=NOW)
    return letter_id, why


def _automatic_letters(conn: Connection) -> list[str]:
    letters = metadata.tables["outbox_letter"]
    return sorted(conn.execute(select(letters.c.to_email).where(letters.c.automatic)).scalars())


def test_a_letter_past_a_limit_is_not_written_and_the_refusal_says_which(
    engine: Engine,
) -> None:
    capped = LimitsConfig(auto_letters_per_day=2, auto_letters_per_hour=3)
    with write_transaction(engine) as conn:
        suppression.suppress(conn, "gone@example.com", reason="5.1.1", message_row_id=None,
                             now=NOW)
        outcomes = [_queue(conn, to, capped)[1] for to in (
            "ana@example.com", "Ana+2@example.com", "ana@example.com", "gone@example.com",
            "bob@example.com", "carol@example.com")]
        written = _automatic_letters(conn)
    assert outcomes == ["", "", "rate limit 2/24h", letter_limits.BOUNCED, "",
                        "hourly cap 3/h on all automatic letters"]
    assert written == ["Ana+2@example.com", "ana@example.com", "bob@example.com"]


@pytest.mark.postgres
def test_on_postgresql_an_automatic_letter_is_written_with_its_limits_read_at_once(
    new_pg_database: Any,
) -> None:
    engine = make_engine(new_pg_database())
    try:
        with write_transaction(engine) as conn:
            lock_until_commit(conn, automatic_letters.mailbox_lock("ana@example.com"))
            sent = statements_sent(engine)
            letter_id, why = _queue(conn, "ana@example.com", DEFAULTS)
    finally:
        engine.dispose()
    # Each statement is a round trip to the server, paid once per holding reply (the
    # batch already holds its mailboxes' locks).
    assert letter_id is not None
    assert why == ""
    assert len(sent) == 1, sent
