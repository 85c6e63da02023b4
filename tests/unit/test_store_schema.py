"""The database an operator gets: migrations, SQLite settings, UTC timestamps."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import col, select

from triaged.store.db import (
    MIGRATIONS_DIR,
    head_revision,
    make_engine,
    migrate,
    move_schema,
    schema_change,
    schema_revision,
    transaction,
    writer,
)
from triaged.store.models import MailboxCursor, MessageRow, metadata


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state' / 'triaged.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_fresh_database_is_migrated_to_head_and_migrating_again_changes_nothing(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert schema_revision(engine) is None
    migrate(engine)
    assert schema_revision(engine) == head_revision() == "0014_claim_order"
    tables = set(inspect(engine).get_table_names())
    migrate(engine)
    assert schema_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == tables
    engine.dispose()


def test_the_newest_revision_is_the_one_alembic_would_upgrade_to() -> None:
    # triaged reads it from the revision files without Alembic; a new migration
    # written some other way would be missed at start and show up here.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; the index is checked below.
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        names = {
            row[0]
            for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
        }
    assert "ix_outbox_letter_to_email_lower" in names


def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_the_database_folder_is_created(tmp_path: Path) -> None:
    target = tmp_path / "var" / "lib" / "triaged" / "triaged.db"
    engine = make_engine(f"sqlite:///{target}")
    migrate(engine)
    assert target.exists()
    engine.dispose()


def test_a_failed_transaction_leaves_nothing_behind(engine: Engine) -> None:
    def crash_after_writing() -> None:
        with transaction(engine) as session:
            session.add(MailboxCursor(mailbox="m", folder="INBOX", uidvalidity=1, last_uid=5))
            session.flush()
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_after_writing()
    with transaction(engine) as session:
        assert session.exec(select(MailboxCursor)).all() == []


@pytest.mark.parametrize(
    "stored",
    [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=3))),
        datetime(2026, 3, 28, 19, 30, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_timestamps_come_back_as_the_same_instant_in_aware_utc(
    engine: Engine, stored: datetime
) -> None:
    with transaction(engine) as session:
        row = MessageRow(mailbox="m", folder="f", sha256="x", received_at=stored)
        session.add(row)
    with transaction(engine) as session:
        loaded = session.exec(select(MessageRow)).one()
    assert loaded.received_at == stored
    assert loaded.received_at.tzinfo is UTC


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    naive = MessageRow(mailbox="m", folder="f", sha256="x", received_at=datetime(2026, 1, 1))
    with transaction(engine) as session:
        session.add(naive)
        with pytest.raises(StatementError, match="naive"):
            session.flush()
        session.rollback()


def test_timestamps_in_other_offsets_order_by_instant(engine: Engine) -> None:
    noon_in_kyiv = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))  # 10:00 UTC
    eleven_utc = datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    with transaction(engine) as session:
        session.add(MessageRow(mailbox="m", folder="f", sha256="kyiv", received_at=noon_in_kyiv))
        session.add(MessageRow(mailbox="m", folder="f", sha256="utc", received_at=eleven_utc))
    with transaction(engine) as session:
        newest_first = session.exec(
            select(MessageRow.sha256).order_by(col(MessageRow.received_at).desc())
        ).all()
    assert newest_first == ["utc", "kyiv"]


def test_a_database_from_before_the_ladder_is_upgraded_with_its_open_complaints_on_it(
    tmp_path: Path,
) -> None:
    from alembic import command

    from triaged.store.db import _alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001_initial")
    due = "2026-11-30 08:00:00.000000+00:00"
    with engine.begin() as conn:
        for number, state in enumerate(["acknowledged", "resolved"]):
            conn.execute(text(
                "INSERT INTO complaint (reference, mailbox, state, customer_email, "
                "customer_name, subject, language, received_at, due_at, escalation_level, "
                "category, priority, created_at, updated_at) VALUES (:ref, 'support', :state, "
                "'c@example.test', '', '', 'en', :due, :due, 0, '', 'normal', :due, :due)"),
                {"ref": f"OLD-{number}", "state": state, "due": due})

    migrate(engine)

    assert schema_revision(engine) == head_revision()
    with engine.connect() as conn:
        found = conn.execute(text(
            "SELECT reference, nudge_at IS NOT NULL, reminded FROM complaint ORDER BY reference"
        )).all()
    # The open one escalates at its date (no late reminder); the resolved one never.
    assert [tuple(row) for row in found] == [("OLD-0", 1, 1), ("OLD-1", 0, 0)]
    engine.dispose()


def test_a_first_release_database_whose_complaints_have_messages_and_events_is_upgraded(
    tmp_path: Path,
) -> None:
    # 0002 rebuilds the complaint table (SQLite batch mode: copy, DROP, rename); with
    # foreign keys enforced throughout, the DROP failed as soon as a message or an
    # event pointed at a complaint, i.e. for every real installation.
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with writer(engine) as conn, conn.begin():
        move_schema(conn, "0001_initial")
    at = "2026-11-23 08:00:00.000000"
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO complaint (id, reference, mailbox, state, customer_email, "
            "customer_name, subject, language, received_at, due_at, escalation_level, "
            "category, priority, created_at, updated_at) VALUES (7, 'OLD-7', 'support', "
            "'acknowledged', 'c@example.test', '', '', 'en', :at, :at, 0, '', 'normal', "
            ":at, :at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO message (mailbox, folder, uidvalidity, uid, message_id, sha256, size, "
            "sender, subject, text, outcome, rule, reason, complaint_id, received_at) VALUES "
            "('support', 'INBOX', 1, 1, '<m@x>', 'ab', 0, 'c@example.test', '', '', "
            "'complaint', '', '', 7, :at)"), {"at": at})
        conn.execute(text(
            "INSERT INTO event (complaint_id, message_row_id, at, kind, actor, detail) "
            "VALUES (7, 1, :at, 'registered', 'triaged', '{}')"), {"at": at})

    migrate(engine)

    assert schema_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1, "enforced again"
        assert conn.execute(text(
            "SELECT c.reference, e.kind FROM event e JOIN message m ON m.id = e.message_row_id "
            "JOIN complaint c ON c.id = m.complaint_id")).all() == [("OLD-7", "registered")]
    engine.dispose()


def test_a_schema_change_that_would_leave_rows_pointing_nowhere_is_rolled_back(
    engine: Engine,
) -> None:
    with pytest.raises(IntegrityError, match="point to rows that do not exist"), \
            schema_change(engine) as conn:
        conn.execute(text(
            "INSERT INTO event (complaint_id, at, kind, actor, detail) "
            "VALUES (999, '2026-01-01 00:00:00.000000', 'registered', 'triaged', '{}')"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM event")).scalar() == 0
