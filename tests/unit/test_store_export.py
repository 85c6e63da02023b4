"""Export files from older releases and from the future, against real SQLite files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from triaged.domain.errors import ExportError
from triaged.store.db import head_revision, make_engine, migrate, schema_revision
from triaged.store.export import export_rows, import_rows

AT = "2026-11-23T08:00:00+00:00"
DUE = "2026-11-30T15:00:00+00:00"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    yield engine
    engine.dispose()


def first_release_export(*, schema: str = "0001_initial") -> list[str]:
    """What an export of a 0001 database holds: that revision's columns, nothing newer."""
    complaint = {"id": 3, "reference": "K7M-Q3XY", "mailbox": "support", "state": "acknowledged",
                 "customer_email": "ioana@example.test", "customer_name": "Ioana",
                 "subject": "Stale bread", "language": "ro", "received_at": AT, "due_at": DUE,
                 "escalation_level": 0, "category": "", "priority": "normal",
                 "created_at": AT, "updated_at": AT}
    message = {"id": 1, "mailbox": "support", "folder": "INBOX", "uidvalidity": 7, "uid": 1,
               "message_id": "<m1@example.test>", "sha256": "ab", "raw": "U3ViamVjdDogaGkNCg==",
               "size": 13, "sender": "ioana@example.test", "subject": "Stale bread",
               "sent_date": None, "text": "Painea era veche.", "outcome": "complaint",
               "rule": "", "reason": "", "complaint_id": 3, "duplicate_of": None,
               "received_at": AT}
    records = [
        {"type": "header", "format": "triaged-export", "version": 1, "schema": schema},
        {"type": "complaint", "row": complaint},
        {"type": "message", "row": message},
        {"type": "end", "rows": {"complaint": 1, "message": 1}},
    ]
    return [json.dumps(record) for record in records]


def test_an_export_from_the_first_release_is_imported_and_upgraded_like_a_live_database(
    engine: Engine,
) -> None:
    summary = import_rows(engine, first_release_export())

    assert summary.schema == head_revision() == schema_revision(engine)
    assert summary.rows == {"complaint": 1, "message": 1}
    with engine.connect() as conn:
        complaint = conn.execute(text(
            "SELECT reference, nudge_at, due_at, reminded, forwarded_by FROM complaint")).one()
        raw = conn.execute(text("SELECT raw FROM message")).scalar_one()
    # Migration 0002's data step ran on the imported row: it escalates at its date.
    assert complaint.nudge_at == complaint.due_at == "2026-11-30 15:00:00.000000"
    assert (complaint.reminded, complaint.forwarded_by) == (1, "")
    assert raw == b"Subject: hi\r\n"


def test_an_old_export_goes_into_an_empty_database_already_at_the_newest_schema(
    engine: Engine,
) -> None:
    migrate(engine)  # e.g. `triaged check` or `list` ran before the import

    import_rows(engine, first_release_export())

    out = io.StringIO()
    export_rows(engine, out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    [complaint] = [line["row"] for line in lines if line["type"] == "complaint"]
    assert (complaint["reference"], complaint["due_at"], complaint["nudge_at"]) == (
        "K7M-Q3XY", DUE, DUE)


def test_an_export_from_a_newer_triaged_is_refused_and_nothing_is_created(
    engine: Engine,
) -> None:
    with pytest.raises(ExportError, match="newer triaged"):
        import_rows(engine, first_release_export(schema="0099_from_the_future"))

    assert schema_revision(engine) is None


def test_a_row_with_a_column_the_schema_does_not_have_is_refused_by_line(engine: Engine) -> None:
    lines = first_release_export()
    record = json.loads(lines[1])
    record["row"]["mood"] = "angry"
    lines[1] = json.dumps(record)

    with pytest.raises(ExportError, match="line 2: table complaint has no column 'mood'"):
        import_rows(engine, lines)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM complaint")).scalar() == 0
