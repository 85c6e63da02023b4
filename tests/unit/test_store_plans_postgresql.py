"""On PostgreSQL a statement prepared while its tables were small keeps its plan (a
generic plan) as they grow: the per-message reads must be index reads even then."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from triaged.store import letter_claims, outbox_rows
from triaged.store.db import make_engine, write_transaction, writer
from triaged.store.letter_claims import _CLAIMS
from triaged.store.rows import _SAME_HASH_OR_ID

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _generic_plan(conn: Connection, statement: Any, values: dict[str, Any]) -> str:
    """The plan PostgreSQL keeps for `statement` once prepared, whatever the values."""
    dialect = postgresql.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]
    compiled = statement.compile(dialect=dialect)
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql(f"PREPARE planned AS {compiled}")
    params = compiled.construct_params(values)
    dbapi = conn.connection.dbapi_connection
    arguments = ", ".join(sql.Literal(params[name]).as_string(dbapi)  # type: ignore[arg-type]
                          for name in compiled.positiontup or ())
    found = conn.exec_driver_sql(f"EXPLAIN EXECUTE planned({arguments})").scalars().all()
    conn.exec_driver_sql("DEALLOCATE planned")
    return "\n".join(found)


def test_duplicate_detection_reads_the_hash_and_message_id_indexes(
    new_pg_database: Callable[[], str],
) -> None:
    engine = make_engine(new_pg_database())
    try:
        with write_transaction(engine) as conn:
            plan = _generic_plan(conn, _SAME_HASH_OR_ID, {"sha256": "x", "mid": "<m@x>"})
    finally:
        engine.dispose()
    assert "Seq Scan" not in plan, plan
    assert "ix_message_sha256" in plan, plan
    assert "ix_message_message_id" in plan, plan


def test_the_sender_s_claim_reads_due_letters_in_index_order_without_sorting_them(
    new_pg_database: Callable[[], str],
) -> None:
    engine = make_engine(new_pg_database())
    try:
        with write_transaction(engine) as conn:
            plan = _generic_plan(conn, _CLAIMS[("queued", True, True)], {
                "now": NOW, "until": NOW + timedelta(minutes=5), "holder": "h"})
    finally:
        engine.dispose()
    assert "ix_outbox_letter_due" in plan, plan
    assert "Sort" not in plan, plan


def test_the_sender_s_claim_is_planned_once_not_for_every_letter(
    new_pg_database: Callable[[], str],
) -> None:
    engine = make_engine(new_pg_database())
    lease = timedelta(minutes=5)
    try:
        with write_transaction(engine) as conn:
            for n in range(3000):
                outbox_rows.queue_letter(conn, complaint_id=None, kind="holding",
                                         to_email=f"c{n}@example.com", message_id=f"<m{n}@x>",
                                         subject="cake", raw=b"letter", automatic=True, now=NOW)
        with writer(engine) as conn:
            with conn.begin():
                conn.exec_driver_sql("ANALYZE outbox_letter")
            for _ in range(30):  # as the sender claims: one letter per transaction
                with conn.begin():
                    letter_claims.claim_letters(conn, now=NOW, limit=1, lease=lease, holder="h",
                                                take_over=False)
            with conn.begin():
                plans = conn.exec_driver_sql(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE 'UPDATE outbox_letter%%'").all()
    finally:
        engine.dispose()
    # With a backlog in the outbox, planning the claim cost more than running it.
    # psycopg prepares a statement after five runs, and PostgreSQL keeps one plan
    # only when it is as good as a fresh one for each letter.
    [(generic, custom)] = plans
    assert generic >= 20, (generic, custom)
