"""Claims on letters in flight: a sender that is gone loses them at once, a living one
keeps them; and the health verdict while delivery attempts fail."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from tests.support.ops_store import config
from tests.unit.test_store_outbox import _fill
from triaged.ops.health import judge
from triaged.store import letter_claims
from triaged.store.claims import ClaimHolder
from triaged.store.db import make_engine, write_transaction
from triaged.store.ops_queries import OpsFigures, Outbox, outbox

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _claim(engine: Engine, holder: ClaimHolder, *, limit: int = 1) -> list[int]:
    with write_transaction(engine) as conn:
        gone = holder.gone(conn, letter_claims.claim_holders(conn, besides=holder.name))
        return [x.id for x in letter_claims.claim_letters(conn, now=NOW, limit=limit, lease=LEASE,
                                                           holder=holder.name, gone=gone)]


def _dead_claim(engine: Engine, url: str) -> None:
    """A sender in another process claims a letter and dies (SIGKILL) still holding it."""
    script = (
        "import os, signal, sys\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from triaged.store import letter_claims\n"
        "from triaged.store.claims import ClaimHolder\n"
        "from triaged.store.db import make_engine, write_transaction\n"
        "engine = make_engine(sys.argv[1])\n"
        "holder = ClaimHolder(engine)\n"
        "holder.hold()\n"
        "with write_transaction(engine) as conn:\n"
        "    letter_claims.claim_letters(conn, now=datetime(2026, 5, 4, 9, 0, tzinfo=UTC),\n"
        "        limit=1, lease=timedelta(minutes=5), holder=holder.name)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, url], env={**os.environ},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == -9, done.stderr


def test_a_letter_claimed_by_a_killed_sender_is_taken_over_at_once(
    engine: Engine, db_url: str
) -> None:
    _fill(engine, 2)
    _dead_claim(engine, db_url)
    holder = ClaimHolder(engine)
    try:
        holder.hold()
        # Its lease runs for five more minutes, yet the letter is free now, and first.
        assert _claim(engine, holder, limit=2) == [1, 2]
    finally:
        holder.release()


def test_a_letter_claimed_by_a_living_sender_stays_with_it(engine: Engine) -> None:
    _fill(engine, 2)
    first, second = ClaimHolder(engine), ClaimHolder(engine)
    try:
        first.hold()
        second.hold()
        assert _claim(engine, first) == [1]
        assert _claim(engine, second, limit=5) == [2]
        assert _claim(engine, second, limit=5) == []
    finally:
        first.release()
        second.release()


def test_the_health_fails_while_the_latest_delivery_attempts_all_failed(
    engine: Engine
) -> None:
    _fill(engine, 3)
    holder = ClaimHolder(engine)
    try:
        holder.hold()
        ids = _claim(engine, holder, limit=3)
    finally:
        holder.release()
    with write_transaction(engine) as conn:
        letter_claims.unclaim(conn, ids[0], error="SMTP unreachable: refused", now=NOW)
        letter_claims.unclaim(conn, ids[1], error="SMTP unreachable: refused",
                              now=NOW + timedelta(seconds=5))
        # Never handed to a connection: no attempt, not a failure.
        letter_claims.unclaim(conn, ids[2], error="", now=NOW + timedelta(seconds=6))
        figures = outbox(conn)
    assert (figures.failing, figures.last_error) == (2, "SMTP unreachable: refused")
    polled: dict[str, datetime | None] = {"support": NOW, "sales": NOW}
    verdict = judge(config(), OpsFigures(polled_at=polled, outbox=figures), NOW)
    assert verdict.problems == [
        "sending is failing: the last 2 delivery attempt(s) failed, the latest with: SMTP "
        "unreachable: refused; 3 letter(s) wait and go out as soon as the SMTP server "
        "accepts them"]
    one = Outbox(waiting=1, oldest_waiting_since=NOW, failing=1, last_error="451 later")
    assert judge(config(), OpsFigures(polled_at=polled, outbox=one), NOW).healthy
