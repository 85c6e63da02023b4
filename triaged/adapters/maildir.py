"""A local Maildir as a mail source, behind the same interface as IMAP.

For on-host deployments (the MTA delivers into a Maildir) and for `triaged
demo`. A Maildir has no UIDs: a message is new while it sits in the folder
and processed once it has been moved into the Maildir++ subfolder
`.<processed_folder>` (or flagged Seen when no folder is configured).
For `start = "now"` the cursor's floor holds the newest modification time
(ns) seen at first contact; older files are the business's and stay put.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from triaged.adapters.ports import Batch, Cursor
from triaged.domain.records import RawMail


class MaildirSource:
    def __init__(self, name: str, root: str | Path, processed_folder: str = "Triaged") -> None:
        self.name = name
        self.root = Path(root)
        self.processed_folder = processed_folder

    def connect(self) -> None:
        for sub in ("new", "cur", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if self.processed_folder:
            for sub in ("new", "cur", "tmp"):
                (self._processed_dir() / sub).mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        return None

    def _processed_dir(self) -> Path:
        return self.root / f".{self.processed_folder}"

    def _pending(self) -> list[tuple[int, str, Path]]:
        """(mtime_ns, key, path) of every unprocessed message, oldest first."""
        found: list[tuple[int, str, Path]] = []
        for sub in ("new", "cur"):
            folder = self.root / sub
            for entry in os.scandir(folder):
                if not entry.is_file() or entry.name.startswith("."):
                    continue
                info = entry.name.partition(":")[2]
                if not self.processed_folder and "S" in info.partition(",")[2]:
                    continue
                found.append((entry.stat().st_mtime_ns, f"{sub}/{entry.name}", Path(entry.path)))
        found.sort()
        return found

    def first_cursor(self, start: str) -> Cursor:
        self.connect()
        if start == "all":
            return Cursor(0, 0)
        pending = self._pending()
        floor = pending[-1][0] if pending else 0
        return Cursor(0, 0, floor=floor)

    def count_left_alone(self, cursor: Cursor) -> int:
        if cursor.floor <= 0:
            return 0
        self.connect()
        return sum(1 for mtime_ns, _key, _path in self._pending() if mtime_ns <= cursor.floor)

    def fetch_new(self, cursor: Cursor, limit: int) -> Batch:
        self.connect()
        mails: list[RawMail] = []
        for mtime_ns, key, path in self._pending():
            if mtime_ns <= cursor.floor:
                continue
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                # Taken by another reader between the listing and the read.
                continue
            mails.append(RawMail(self.name, str(self.root), 0, 0, key, data))
            if len(mails) >= limit:
                break
        return Batch(cursor, mails)

    def mark_processed(self, mails: Sequence[RawMail]) -> None:
        self.mark_keys([m.key for m in mails])

    def mark_keys(self, keys: Sequence[str]) -> None:
        for key in keys:
            path = self.root / key
            name = path.name
            base, _, info = name.partition(":")
            flags = "".join(sorted(set(info.partition(",")[2]) | {"S"}))
            target_dir = self._processed_dir() if self.processed_folder else self.root
            try:
                os.rename(path, target_dir / "cur" / f"{base}:2,{flags}")
            except FileNotFoundError:
                continue

    def leftovers(self, cursor: Cursor) -> Sequence[str]:
        # A message stays pending until it is moved, so a crash before the move
        # means it is read again and recognised as a duplicate by its hash.
        return ()

    def wait_for_news(
        self,
        timeout: float,
        *,
        stop: Callable[[], bool] = lambda: False,
        listening: Callable[[], None] = lambda: None,
    ) -> bool:
        # No change notification on a plain folder: the poll interval does the work.
        listening()
        deadline = time.monotonic() + timeout
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        return False
