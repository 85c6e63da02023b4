"""Plays systemd's notify socket: every datagram a daemon sends, with the time it arrived."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    """Bound at `folder/notify` and read on a thread until `close`."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a daemon that reports to this socket."""
        return {**os.environ, "NOTIFY_SOCKET": self.path, **extra}

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def wait_for(self, prefix: str, timeout: float = 15.0) -> tuple[float, str]:
        """The first datagram with a line starting with `prefix`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for arrived, text in list(self.received):
                if any(line.startswith(prefix) for line in text.split("\n")):
                    return arrived, text
            time.sleep(0.02)
        raise AssertionError(f"no {prefix!r} from the daemon in {timeout} s: {self.received}")

    def pings(self, since: float = 0.0) -> list[float]:
        """When each watchdog ping arrived (from `since` on)."""
        return [t for t, text in list(self.received) if text == "WATCHDOG=1" and t >= since]

    def statuses(self) -> list[str]:
        return [line[len("STATUS="):] for _, text in list(self.received)
                for line in text.split("\n") if line.startswith("STATUS=")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
