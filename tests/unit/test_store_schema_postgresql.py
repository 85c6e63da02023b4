"""The schema on PostgreSQL: every migration runs there, the result matches the models, and
instances starting together migrate once."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from tests.pgserver import PostgresServer
from triaged.store.db import head_revision, make_engine, migrate, schema_revision
from triaged.store.models import metadata

pytestmark = pytest.mark.postgres

_fresh_numbers = itertools.count(1)


def _fresh_pg_database(postgres: PostgresServer) -> str:
    """An empty database: nothing migrated yet."""
    return postgres.create_database(f"fresh_{next(_fresh_numbers)}")


def test_postgresql_is_migrated_to_head_and_the_schema_matches_the_models(
    postgres: PostgresServer,
) -> None:
    engine = make_engine(_fresh_pg_database(postgres))
    assert schema_revision(engine) is None
    migrate(engine)
    assert schema_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    migrate(engine)
    assert set(inspect(engine).get_table_names()) == tables
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        indexes = set(conn.scalars(text("SELECT indexname FROM pg_indexes")))
    assert {"ix_outbox_letter_to_email_lower", "ix_complaint_nudge_at"} <= indexes
    engine.dispose()


def test_instances_starting_together_on_postgresql_migrate_once_without_errors(
    postgres: PostgresServer,
) -> None:
    # Processes, as instances are: Alembic's context is global to a process.
    url = _fresh_pg_database(postgres)
    # Each waits for the same instant after its imports, so the upgrades overlap.
    code = ("import sys, time; from triaged.store.db import make_engine, migrate; "
            "engine = make_engine(sys.argv[1]); "
            "time.sleep(max(0, float(sys.argv[2]) - time.time())); migrate(engine)")
    at = str(time.time() + 4)
    instances = [subprocess.Popen([sys.executable, "-c", code, url, at], stderr=subprocess.PIPE)
                 for _ in range(4)]
    try:
        # Without the lock they fail on "already exists" or deadlock for good.
        failures = [p.stderr.read().decode() for p in instances
                    if p.wait(60) != 0 and p.stderr is not None]
    finally:
        for process in instances:
            process.kill()
    assert failures == []
    engine = make_engine(url)
    assert schema_revision(engine) == head_revision()
    engine.dispose()
