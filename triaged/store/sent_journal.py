"""The sent journal: a SQLite sender's note that a letter was accepted, before the database has it.

SQLite has one writer at a time. Intake holds that turn for a whole batch, and
a sender that had to commit each letter's fate before its connection's next
DATA waited for a turn per letter: a backlog's replies left only after it was
read. So on SQLite the sender writes "letter N accepted at T" to a file of its
own first (one `write()`, which outlives the process the moment it returns,
as a commit in WAL mode with `synchronous=NORMAL` does), sends the next
letter, and writes the fates into the database in one transaction whenever
it takes its turn there (`letter_fates.record_sent_all`). A crash still sends
at most one letter per connection twice: the one whose line was not written.

Each sender has its own file in `<database>-sent/`, whose first line is its
claim's name (`store.claims`). Before any sender takes letters over, it
writes every file's fates into the database (writing one twice changes
nothing); the files of senders that are gone are then removed. A line cut
short by the crash it recorded is skipped: its letter is sent again.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

log = logging.getLogger("triaged.sender")

_SUFFIX = ".log"


def journal_folder(engine: Engine) -> Path | None:
    """Where `engine`'s senders keep their journals; None when it needs none
    (PostgreSQL: senders there write each fate at once) or has no file to sit beside."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve().parent / f"{Path(database).name}-sent"


@dataclass(frozen=True)
class Accepted:
    """One line: letter `letter_id` was accepted by the SMTP server at `at`."""

    letter_id: int
    at: datetime


@dataclass
class JournalFile:
    """One sender's journal as read: its claim's name and its accepted letters."""

    path: Path
    holder: str
    accepted: list[Accepted] = field(default_factory=list)


class SentJournal:
    """This sender's journal: append a letter's acceptance; forget what the database has.

    Not thread-safe: one sender uses it.
    """

    def __init__(self, folder: Path, holder: str) -> None:
        self.folder = folder
        self.holder = holder
        # One file per sender, not per claim: a reload's new sender shares the
        # process's claim while the old one may still be finishing.
        name = re.sub(r"[^A-Za-z0-9._-]", "_", holder)
        self.path = folder / f"{name}.{uuid.uuid4().hex[:12]}{_SUFFIX}"
        self._fd: int | None = None
        self.unwritten = 0  # lines added since the database last had them all
        self.failing = False  # the last line could not be written (said once)

    def add(self, accepted: Accepted) -> None:
        """Write one line; when this returns, a crash of the process does not lose it."""
        if self._fd is None:
            self._open()
        assert self._fd is not None
        os.write(self._fd, f"{accepted.letter_id} {accepted.at.isoformat()}\n".encode())
        self.unwritten += 1

    def _open(self) -> None:
        self.folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if os.fstat(fd).st_size == 0:
            os.write(fd, f"{self.holder}\n".encode())
        self._fd = fd

    def clear(self) -> None:
        """Forget every line: the database has them all (committed)."""
        self.unwritten = 0
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{self.holder}\n".encode())
        except OSError as error:
            # Its lines are in the database: written again later, they change nothing.
            log.warning("cannot clear the sent journal %s: %s", self.path, error)

    def close(self) -> None:
        """Let the file go; remove it when the database has everything in it (else
        the next sender to start writes it there)."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if not self.unwritten:
            self.path.unlink(missing_ok=True)

    def forget(self, found: JournalFile) -> None:
        """Remove another sender's journal, now in the database (that sender is gone)."""
        try:
            found.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("cannot remove the sent journal %s: %s", found.path, error)

    def all(self) -> Iterator[JournalFile]:
        """Every sender's journal in the folder, this one's included."""
        try:
            paths = sorted(self.folder.glob(f"*{_SUFFIX}"))
        except OSError:
            return
        for path in paths:
            found = read(path)
            if found is not None:
                yield found


def read(path: Path) -> JournalFile | None:
    """The journal at `path`; None if it is gone (removed by its sender meanwhile) or
    cannot be read (said in the log)."""
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as error:
        log.error("cannot read the sent journal %s (%s): its letters may be sent again",
                  path, error)
        return None
    lines = text.split("\n")
    # The last piece has no newline: empty, or a line its crash cut short.
    complete, holder = lines[:-1], ""
    if complete:
        holder, complete = complete[0], complete[1:]
    found = JournalFile(path, holder)
    for line in complete:
        number, _, at = line.partition(" ")
        try:
            found.accepted.append(Accepted(int(number), datetime.fromisoformat(at)))
        except ValueError:
            log.warning("sent journal %s: skipping a line it cannot read: %r", path, line[:80])
    return found
