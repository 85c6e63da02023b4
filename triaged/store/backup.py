"""An online copy of the SQLite database, safe while the daemon writes to it.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the pages of
one consistent moment. It runs in a single step: under WAL a reader blocks no
writer, so the daemon goes on registering mail while the copy is made, and a
single step is never restarted by those writes (a step-by-step copy is
restarted each time another connection writes between steps).

PostgreSQL has its own tools (`pg_dump`); `triaged export` works for both.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from triaged.domain.errors import BackupError


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int
    integrity: str


def sqlite_path(url: str) -> Path:
    """The database file behind an SQLite URL; BackupError for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        raise BackupError(
            f"`triaged backup` copies SQLite databases; this one is {parsed.get_backend_name()}: "
            "use pg_dump (e.g. pg_dump --format=custom --file=triaged.dump DBNAME) or "
            "`triaged export`"
        )
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("the database is in memory: there is nothing on disk to back up")
    return Path(database)


def destination(dest: Path, now: datetime) -> Path:
    """`dest` itself, or a time-stamped file inside it when it is a folder (handy for cron)."""
    if dest.is_dir():
        return dest / f"triaged-{now.strftime('%Y%m%dT%H%M%SZ')}.db"
    return dest


def backup_sqlite(source: Path, dest: Path) -> BackupReport:
    """Copy the live database at `source` to the new file `dest`, then verify the copy.

    The copy is written beside `dest` under a temporary name, checked with
    `PRAGMA integrity_check`, flushed to disk and only then renamed: `dest`
    is either absent or a whole, verified database. An existing `dest` is
    never overwritten. The file is created readable by its owner only: it
    holds every customer's mail.
    """
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if dest.exists():
        raise BackupError(f"{dest} already exists; choose a new name (nothing is overwritten)")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a folder")
    partial = dest.with_name(f".{dest.name}.partial")
    try:
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        _copy(source, partial)
        integrity = _integrity(partial)
        if integrity != "ok":
            raise BackupError(f"the copy failed its integrity check: {integrity}")
        _fsync(partial)
        os.replace(partial, dest)
        # The rename is durable only once the folder's entry is on disk.
        _fsync(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return BackupReport(dest, dest.stat().st_size, integrity)


def _copy(source: Path, target: Path) -> None:
    # Only read: the source exists (checked), so connecting creates nothing. Not
    # `mode=ro`: a read-only connection cannot open a WAL database whose -shm
    # file is missing (the daemon stopped), and under WAL it takes no write lock anyway.
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as error:
        raise BackupError(f"cannot copy {source}: {error}") from None
    finally:
        src.close()


def _integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        rows = db.execute("PRAGMA integrity_check").fetchall()
    finally:
        db.close()
    return "; ".join(str(row[0]) for row in rows)


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
