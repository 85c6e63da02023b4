"""The marks that tell a restarted process which message it was stopped on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from triaged.domain.records import RawMail
from triaged.store import attempts
from triaged.store.db import ensure_schema, make_engine, write_transaction

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def raw(uid: int) -> RawMail:
    return RawMail("support", "INBOX", 7, uid, str(uid), f"message {uid}".encode())


def begin(url: str, uid: int, *, first: bool) -> attempts.Attempt:
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            return attempts.begin(conn, raw(uid), f"sha{uid}", NOW, first=first)
    finally:
        engine.dispose()


def test_only_the_message_in_flight_when_the_process_stopped_is_counted(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'marks.db'}"
    engine = make_engine(url)
    ensure_schema(engine, migrate_on_start=True)
    engine.dispose()
    for _ in range(3):  # a process reads 1, then 2, and is killed while reading 2
        assert begin(url, 1, first=True).stops == 0
        begin(url, 2, first=False)
    assert begin(url, 1, first=True).stops == 0  # read fine each time: never counted
    assert begin(url, 2, first=False).stops == 3


def test_a_finished_message_leaves_no_mark(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'marks.db'}"
    engine = make_engine(url)
    ensure_schema(engine, migrate_on_start=True)
    try:
        with write_transaction(engine) as conn:
            mark = attempts.begin(conn, raw(1), "sha1", NOW, first=True)
        with write_transaction(engine) as conn:
            attempts.finish(conn, [mark])
        # A process stopped after the outcome committed does not count it.
        with write_transaction(engine) as conn:
            assert attempts.begin(conn, raw(1), "sha1", NOW, first=True).stops == 0
    finally:
        engine.dispose()
