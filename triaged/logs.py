"""Structured logging: one line per event, as JSON, logfmt or text, secrets removed.

Every line carries `logger`, `level` and `msg`. A line about a complaint or a
message also carries `reference` and `message_id` (null when not known yet):
the use cases open an `about()` scope around one message or letter and `tag()`
what they learn (the Message-ID once parsed, the reference once registered),
or pass `extra=fields(...)` on a single call. A filter on the handler copies
the scope onto each record, so a line logged deep inside (a bounce, an
approval reply) is tagged without its module knowing the scope exists.

The same filter replaces every configured secret (passwords, the approval
key, a database password, OAuth2 tokens as they are fetched) with `***` in the
message, its arguments and any traceback, before any formatter sees them.

JSON and logfmt are a few lines over `json` and `str`; no library is needed
for a fixed set of fields (see README "Logs" for the choice).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("auto", "json", "logfmt", "text")
LEVELS = ("debug", "info", "warning", "error")
REDACTED = "***"
# Fields a line about a complaint or a message carries, in this order.
CONTEXT_FIELDS = ("reference", "message_id")
# Libraries that are chatty at INFO; their failures reach us as exceptions.
NOISY = ("imapclient", "aiosmtplib", "apscheduler", "alembic", "mailparser")
# Secrets shorter than this are not redacted: replacing "a" everywhere would
# garble every line while protecting nothing anyone could not guess.
MIN_SECRET_LENGTH = 4

_scope: ContextVar[dict[str, str] | None] = ContextVar("triaged_log_scope", default=None)


# ---- what a line is about -------------------------------------------------------------


@contextmanager
def about(**values: str | None) -> Iterator[None]:
    """Tag every line logged inside the block (in this thread) with `values`."""
    token = _scope.set({**(_scope.get() or {}), **_present(values)})
    try:
        yield
    finally:
        _scope.reset(token)


def tag(**values: str | None) -> None:
    """Add to the innermost `about()` scope what became known inside it."""
    current = _scope.get()
    if current is not None:
        _scope.set({**current, **_present(values)})


def fields(**values: str | None) -> dict[str, str]:
    """`extra=` for one line about a complaint or letter outside any `about()` scope."""
    return _present(values)


def _present(values: dict[str, str | None]) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


# ---- secrets --------------------------------------------------------------------------


class Redactor:
    """The secret values to remove; more can be added while running (OAuth2 tokens)."""

    # Tokens are fetched anew for every login (each SMTP session): only the newest
    # are kept, so the pattern stays small in a daemon that runs for months. An
    # older token has expired (they live an hour) and is worth nothing.
    MAX_RUNTIME = 32

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._secrets: set[str] = set()
        self._runtime: deque[str] = deque(maxlen=self.MAX_RUNTIME)

    def replace(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
            self._compile()

    def add(self, *secrets: str) -> None:
        """Redact these too: values fetched at run time, the newest `MAX_RUNTIME` kept."""
        with self._lock:
            fresh = [s for s in secrets if len(s) >= MIN_SECRET_LENGTH
                     and s not in self._secrets and s not in self._runtime]
            if not fresh:
                return
            self._runtime.extend(fresh)
            self._compile()

    def _compile(self) -> None:
        every = self._secrets | set(self._runtime)
        if not every:
            self._pattern = None
            return
        # Longest first, so a secret containing another is removed whole.
        ordered = sorted(every, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        return text if pattern is None else pattern.sub(REDACTED, text)


redactor = Redactor()


def add_secret(value: str) -> None:
    """Redact `value` from now on (a token fetched at run time)."""
    redactor.add(value)


class ContextFilter(logging.Filter):
    """Tags records with the `about()` scope and removes secrets from them."""

    _plain = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        scope = _scope.get() or {}
        for key in CONTEXT_FIELDS:
            if getattr(record, key, None) is None and key in scope:
                setattr(record, key, scope[key])
        # The message is rendered once here, so no later handler or formatter
        # can bring an argument's secret back.
        record.msg = redactor(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor(record.stack_info)
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, redactor(value))
        return True


# ---- formats --------------------------------------------------------------------------


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    line: dict[str, Any] = {
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    if any(getattr(record, key, None) for key in CONTEXT_FIELDS):
        for key in CONTEXT_FIELDS:
            line[key] = getattr(record, key, None) or None
    if record.exc_text:
        line["exc"] = record.exc_text
    if record.stack_info:
        line["stack"] = record.stack_info
    return line


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class _StructuredFormatter(logging.Formatter):
    """The fields of a record, with `ts` first unless a journal adds its own."""

    def __init__(self, *, timestamps: bool) -> None:
        super().__init__()
        self.timestamps = timestamps

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        line = _fields(record)
        return {"ts": _timestamp(record), **line} if self.timestamps else line


class JsonFormatter(_StructuredFormatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields(record), ensure_ascii=False, default=str)


class LogfmtFormatter(_StructuredFormatter):
    """`ts=… level=info logger=triaged.daemon msg="…" reference=…`, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={logfmt_value(value)}" for key, value in self.fields(record).items()
                        if value is not None)


_BARE = re.compile(r"[^\s=\"\\]+")


def logfmt_value(value: object) -> str:
    """A bare word when it can be one, else a double-quoted string with escapes."""
    text = str(value)
    if _BARE.fullmatch(text):
        return text
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


class TextFormatter(logging.Formatter):
    """The human form: `LEVEL logger: message [reference=… message_id=…]`."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        tags = [f"{key}={getattr(record, key)}" for key in CONTEXT_FIELDS
                if getattr(record, key, None)]
        if tags:
            text += f" [{' '.join(tags)}]"
        if record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        return text


def resolve_format(name: str, stream: TextIO) -> str:
    """`auto`: JSON for journald or any non-terminal (machines read it), logfmt on a TTY."""
    if name != "auto":
        return name
    if os.environ.get("JOURNAL_STREAM") or not _is_tty(stream):
        return "json"
    return "logfmt"


def _replaceable(handler: logging.Handler, stream: TextIO) -> bool:
    """Ours from an earlier call, or `basicConfig`'s on the same stream (start-up lines)."""
    if any(isinstance(f, ContextFilter) for f in handler.filters):
        return True
    return type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, stream)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure(format: str = "auto", level: str = "info", *,
              secrets: Iterable[str] = (), stream: TextIO | None = None) -> str:
    """Send the root logger's lines to `stream` (stderr) in `format`; return the format used.

    Calling it again (a reload) replaces the handler, the level and the secrets.
    Under journald (`JOURNAL_STREAM` set) lines carry no timestamp: the journal
    stamps each line itself, more precisely, and a second one only costs space.
    """
    stream = stream if stream is not None else sys.stderr
    chosen = resolve_format(format, stream)
    timestamps = not os.environ.get("JOURNAL_STREAM")
    formatter: logging.Formatter
    if chosen == "json":
        formatter = JsonFormatter(timestamps=timestamps)
    elif chosen == "logfmt":
        formatter = LogfmtFormatter(timestamps=timestamps)
    else:
        formatter = TextFormatter()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    redactor.replace(secrets)
    root = logging.getLogger()
    for old in root.handlers[:]:
        if _replaceable(old, stream):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # A library's warning would otherwise be printed as a bare, unparseable line.
    logging.captureWarnings(True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return chosen
