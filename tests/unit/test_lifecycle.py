"""The complaint lifecycle: the store accepts every allowed move and refuses every other."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, func, select, update

from tests import stored
from triaged.domain.errors import ForbiddenMove, TriagedError
from triaged.domain.lifecycle import ALLOWED_MOVES, may_move
from triaged.domain.records import ComplaintRef, ComplaintState, EventKind
from triaged.store import rows
from triaged.store.db import make_engine, write_transaction
from triaged.store.models import metadata
from triaged.store.rows import encode_detail

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
S = ComplaintState
_complaint, _event = metadata.tables["complaint"], metadata.tables["event"]

ALLOWED = {
    (S.RECEIVED, S.ACKNOWLEDGED),
    (S.RECEIVED, S.IN_PROGRESS),
    (S.ACKNOWLEDGED, S.IN_PROGRESS),
    (S.IN_PROGRESS, S.AWAITING_APPROVAL),
    (S.AWAITING_APPROVAL, S.RESOLVED),
    (S.AWAITING_APPROVAL, S.IN_PROGRESS),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.IN_PROGRESS),
    (S.CLOSED, S.IN_PROGRESS),
}
EVERY_PAIR = list(itertools.product(S, S))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_the_table_holds_exactly_the_lifecycles_moves() -> None:
    assert {(old, new) for old, onward in ALLOWED_MOVES.items() for new in onward} == ALLOWED
    assert {(old, new) for old, new in EVERY_PAIR if may_move(old, new)} == ALLOWED


def test_every_allowed_move_is_made_and_logged(engine: Engine) -> None:
    with write_transaction(engine) as conn:
        for n, (old, new) in enumerate(sorted(ALLOWED)):
            complaint_id = stored.register(conn, f"OK-{n}", received_at=NOW)
            conn.execute(update(_complaint).where(_complaint.c.id == complaint_id)
                         .values(state=old.value))
            moved = rows.change_state(conn, complaint_id, old, new, now=NOW, actor="system")
            assert moved is not None, f"{old} → {new}"
            assert moved.kind is EventKind.STATE_CHANGED
            assert json.loads(encode_detail(moved.detail)) == {"from": old.value,
                                                               "to": new.value}
            found = rows.complaint_by_id(conn, complaint_id)
            assert found is not None
            assert found.state is new


def test_every_other_move_is_refused_with_what_to_do_and_writes_nothing(engine: Engine) -> None:
    forbidden = [pair for pair in EVERY_PAIR if pair not in ALLOWED]
    assert len(forbidden) == len(EVERY_PAIR) - len(ALLOWED)
    with write_transaction(engine) as conn:
        complaint_id = stored.register(conn, "NO-1", received_at=NOW)
        events = conn.execute(select(func.count()).select_from(_event)).scalar_one()
        for old, new in forbidden:
            conn.execute(update(_complaint).where(_complaint.c.id == complaint_id)
                         .values(state=old.value))
            ref = ComplaintRef(complaint_id, "NO-1", old, "ana@example.com")
            with pytest.raises(ForbiddenMove, match=f"NO-1: cannot go from {old} to {new}"
                               ) as refused:
                rows.set_state(conn, ref, new, now=NOW, actor="system")
            assert isinstance(refused.value, TriagedError)
            assert "triaged show" in str(refused.value)
            with pytest.raises(ForbiddenMove, match=f"from {old} to {new}"):
                rows.change_state(conn, complaint_id, old, new, now=NOW, actor="system")
            found = rows.complaint_by_id(conn, complaint_id)
            assert found is not None
            assert found.state is old
        assert conn.execute(select(func.count()).select_from(_event)).scalar_one() == events
