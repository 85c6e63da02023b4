"""The limits on automatic mail, each counted by the database: per real mailbox (any
spelling, dots where the provider ignores them), overall per hour, per sender for
staff notices. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine

from triaged.config.records import LimitsConfig
from triaged.domain.mailbox_key import DOTLESS_DOMAINS
from triaged.domain.records import LetterState
from triaged.store import outbox_rows, rows
from triaged.store.db import make_engine, write_transaction
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
        assert outbox_rows.automatic_letters_overall(conn, NOW - timedelta(hours=1), 2) == 2


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
