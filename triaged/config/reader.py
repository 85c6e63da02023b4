"""Typed reading of one TOML table that collects problems instead of raising.

Every getter returns a usable value (the default when the key is missing or
wrong) and records what was wrong under the key's full path, so the loader can
build the whole configuration and report every problem in one go. A table
remembers which keys were read; `finish()` reports the rest as unknown, which
is what catches typos such as `[mailbox]` or `hots = ...`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from triaged.domain.durations import Duration, parse_duration

T = TypeVar("T")
R = TypeVar("R")


class Table:
    """One TOML table at `path` (e.g. "mailboxes[0]"), problems appended to `problems`."""

    def __init__(
        self, data: Mapping[str, Any], path: str, problems: list[str], base_dir: Path
    ) -> None:
        self._data = data
        self._path = path
        self._problems = problems
        self._base_dir = base_dir
        self._known: set[str] = set()

    # -- bookkeeping -------------------------------------------------------

    def key_path(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def problem(self, key: str, message: str) -> None:
        """Record a problem with the value of `key` in this table."""
        self._problems.append(f"{self.key_path(key)}: {message}")

    def has(self, key: str) -> bool:
        self._known.add(key)
        return key in self._data

    def _raw(self, key: str) -> Any:
        self._known.add(key)
        return self._data.get(key)

    def finish(self) -> None:
        """Report every key of this table that no getter asked for."""
        for key in self._data:
            if key in self._known:
                continue
            message = f"unknown key '{self.key_path(key)}'"
            close = difflib.get_close_matches(key, sorted(self._known), n=1, cutoff=0.75)
            if close:
                message += f" (did you mean '{self.key_path(close[0])}'?)"
            self._problems.append(message)

    # -- nested tables -----------------------------------------------------

    def table(self, key: str) -> Table:
        """The sub-table `[key]`; an empty one when missing or not a table."""
        raw = self._raw(key)
        if raw is None or isinstance(raw, Mapping):
            return Table(raw or {}, self.key_path(key), self._problems, self._base_dir)
        self.problem(key, f"expected a table ([{self.key_path(key)}])")
        # Its keys are unknowable, so "required key is missing" would only be noise.
        return Table({}, self.key_path(key), [], self._base_dir)

    def tables(self, key: str) -> list[Table]:
        """The array of tables `[[key]]`; empty when missing or of the wrong shape."""
        raw = self._raw(key)
        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
            self.problem(key, f"expected an array of tables ([[{self.key_path(key)}]])")
            return []
        return [
            Table(item, f"{self.key_path(key)}[{index}]", self._problems, self._base_dir)
            for index, item in enumerate(raw)
        ]

    # -- scalars -----------------------------------------------------------

    def string(self, key: str, default: str = "", *, required: bool = False) -> str:
        raw = self._given_string(key, required=required)
        if raw is None:
            return default
        if required and not raw.strip():
            self.problem(key, "must not be empty")
        return raw

    def checked(
        self, key: str, default: T, convert: Callable[[str], T], *, required: bool = False
    ) -> T:
        """A string converted by `convert`, whose ValueError message becomes the problem."""
        raw = self._given_string(key, required=required)
        return default if raw is None else self._converted(key, raw, convert, default)

    def _given_string(self, key: str, *, required: bool) -> str | None:
        """The key's string, or None when it is absent or no string (noting the problem)."""
        raw = self._raw(key)
        if raw is None:
            if required:
                self.problem(key, "required key is missing")
            return None
        if not isinstance(raw, str):
            self.problem(key, f"expected a string, got {_show(raw)}")
            return None
        return raw

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            self.problem(key, f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def integer(self, key: str, default: int, *, low: int, high: int | None = None) -> int:
        raw = self._raw(key)
        if raw is None:
            return default
        # TOML booleans are Python bools, which are ints; `port = true` is still wrong.
        if not isinstance(raw, int) or isinstance(raw, bool):
            self.problem(key, f"expected an integer, got {_show(raw)}")
            return default
        if raw < low or (high is not None and raw > high):
            bounds = f"between {low} and {high}" if high is not None else f"of at least {low}"
            self.problem(key, f"expected an integer {bounds}, got {raw}")
            return default
        return raw

    def boolean(self, key: str, default: bool) -> bool:
        raw = self._raw(key)
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.problem(key, f"expected true or false, got {_show(raw)}")
            return default
        return raw

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        raw = self._given_strings(key)
        return default if raw is None else raw

    def strings_as(self, key: str, default: tuple[str, ...], convert: Callable[[Any], T]) -> T:
        """A list of strings converted as a whole (`default` must convert cleanly)."""
        fallback = convert(default)
        raw = self._given_strings(key)
        return fallback if raw is None else self._converted(key, raw, convert, fallback)

    def _converted(self, key: str, raw: R, convert: Callable[[R], T], fallback: T) -> T:
        """`convert(raw)`, or `fallback` with the ValueError's message as the key's problem."""
        try:
            return convert(raw)
        except ValueError as exc:
            self.problem(key, str(exc))
            return fallback

    def _given_strings(self, key: str) -> tuple[str, ...] | None:
        """The key's list of strings, or None when it is absent or not one (noting the problem)."""
        raw = self._raw(key)
        if raw is None:
            return None
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            self.problem(key, f"expected a list of strings, got {_show(raw)}")
            return None
        return tuple(raw)

    def command(self, key: str) -> tuple[str, ...]:
        """A command to run without a shell: a non-empty list of strings; () if unset."""
        raw = self._raw(key)
        if raw is None:
            return ()
        if (not isinstance(raw, list) or not raw
                or not all(isinstance(item, str) and item for item in raw)):
            self.problem(key, 'expected a command as a list of strings, e.g. ["pass", "show", '
                         '"mail"] (it runs without a shell)')
            return ()
        return tuple(raw)

    @property
    def problem_count(self) -> int:
        return len(self._problems)

    def each(self, key: str, convert: Callable[[Any], T]) -> tuple[T, ...]:
        """A list whose items each pass `convert`; a bad item is reported as `key[i]`."""
        raw = self._raw(key)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem(key, f"expected a list, got {_show(raw)}")
            return ()
        converted: list[T] = []
        for index, item in enumerate(raw):
            try:
                converted.append(convert(item))
            except ValueError as exc:
                self._problems.append(f"{self.key_path(key)}[{index}]: {exc}")
        return tuple(converted)

    # -- values with meaning -----------------------------------------------

    def duration(self, key: str, default: str) -> Duration:
        return self.checked(key, parse_duration(default), parse_duration)

    def interval(self, key: str, default: str) -> timedelta:
        """A positive calendar duration ("60s", "5 minutes"), not a business one."""
        fallback = parse_duration(default).as_timedelta()
        return self.checked(key, fallback, positive_timedelta)

    def path(self, key: str) -> str:
        """A file or folder path, resolved against the config file's folder; "" if unset."""
        value = self.string(key)
        if not value:
            return ""
        return str(self._base_dir / Path(value).expanduser())

    @property
    def base_dir(self) -> Path:
        return self._base_dir


def positive_timedelta(text: str) -> timedelta:
    duration = parse_duration(text)
    if duration.business:
        raise ValueError(f"expected a calendar duration such as '60s', not {text!r}")
    delta = duration.as_timedelta()
    if delta <= timedelta(0):
        raise ValueError(f"expected a duration longer than zero, got {text!r}")
    return delta


def _show(value: Any) -> str:
    """A short description of a wrongly typed value for a problem message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"a string of {len(value)} characters"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__
