"""Helpers of the slow-message tests: a mail that genuinely takes long to read, sent by
SMTP, and `triaged` run as a process of its own (so it can be killed for real)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from tests.mailstack import MailStack
from tests.support.mail import smtp_send
from triaged.store.db import make_engine


def slow_mail(sender: str, to: str, notes: int = 120_000) -> bytes:
    """An order with every delivery note as a part of its own: 120 000 parts in 2.3 MB.

    Reading is linear in a message's size and stops early on long text, so what
    still takes seconds is a mail of very many small parts (about 3 s on an idle
    machine: several times the tests' one-second budget). It stays small enough
    to be fetched in a fraction of a second, so what the tests see is the reading.
    """
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: All my orders this year\r\n"
            f"Message-ID: {make_msgid(domain='customer.example')}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=note\r\n\r\n"
            "--note\r\nContent-Type: text/plain\r\n\r\n"
            "My orders arrived late; the delivery notes follow.\r\n")
    parts = "".join(f"--note\r\n\r\nDelivery note {n}\r\n" for n in range(notes))
    return (head + parts + "--note--\r\n").encode()


def send(stack: MailStack, sender: str, to: str, data: bytes) -> None:
    smtp_send(stack, sender, to, data, helo=None)


def wait_delivered(stack: MailStack, address: str, count: int) -> None:
    """Wait until the relay delivered `count` messages to `address`'s INBOX."""
    deadline = time.monotonic() + 30
    while len(stack.messages(address)) < count:
        assert time.monotonic() < deadline, f"{count} message(s) never reached {address}"
        time.sleep(0.05)


class Store:
    """Read-only views of one installation's SQLite database."""

    def __init__(self, db: Path) -> None:
        self.url = f"sqlite:///{db}"

    def _rows(self, sql: str) -> list[Any]:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql)).all())
        finally:
            engine.dispose()

    def quarantine_reasons(self) -> list[str]:
        return [str(r[0]) for r in self._rows("SELECT reason FROM quarantine ORDER BY id")]

    def customers(self) -> list[str]:
        return [str(r[0]) for r in self._rows("SELECT customer_email FROM complaint")]

    def letters_to(self) -> list[str]:
        return [str(r[0]) for r in self._rows("SELECT to_email FROM outbox_letter")]

    def in_flight(self) -> list[tuple[int, int]]:
        """The messages being handled now: (UID, times the process stopped on it before)."""
        return [(int(r[0]), int(r[1])) for r in self._rows(
            "SELECT uid, stops FROM reading_attempt WHERE in_flight")]


def run_once(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`triaged run --once` as a process of its own; its log goes to `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "triaged", "--config", str(config),
                                 "run", "--once"], stdout=out, stderr=out)


def start_daemon(config: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`triaged run` as a process of its own, once its log says it runs."""
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "triaged", "--config", str(config),
                                    "run"], stdout=out, stderr=out, env={**os.environ, **env})
    wait_for_log(process, log, "first contact")
    return process


def wait_for_log(process: subprocess.Popen[bytes], log: Path, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in log.read_text(errors="replace"):
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"no {text!r} in the log"
        time.sleep(0.05)
