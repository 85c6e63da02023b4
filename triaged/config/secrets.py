"""Secrets for the configuration: read from a file or printed by a command.

A secret is only ever held inside a `Secret`, whose repr and str are
`Secret('***')`, so it cannot reach a log line or a problem message by
accident; code that needs the value calls `reveal()` at the point of use.
Errors raised here name the file or command, never what it produced.
"""

from __future__ import annotations

import hmac
import shlex
import subprocess
from pathlib import Path

COMMAND_TIMEOUT_SECONDS = 10


class Secret:
    """A password or key; shown as `Secret('***')` everywhere it could be printed.

    Immutable, and deliberately not a dataclass: `dataclasses.asdict(config)`
    must keep it whole instead of spilling its value into a plain dict.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        """The secret itself, for the one call that needs it (login, HMAC)."""
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Secret cannot be changed")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("a Secret cannot be changed")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def read_secret_file(path: Path) -> Secret:
    """Read a secret file, dropping one trailing newline (editors add one).

    Raises ValueError naming the file when it cannot be read or is empty.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read secret file '{path}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"secret file '{path}' is not UTF-8 text") from None
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise ValueError(f"secret file '{path}' is empty")
    return Secret(text)


def run_secret_command(argv: tuple[str, ...], cwd: Path | None) -> Secret:
    """Run `argv` without a shell and take its stripped standard output as the secret.

    The command runs in `cwd` (the config file's folder) so that relative
    helper scripts work. Raises ValueError naming the command when it cannot
    start, fails, times out or prints nothing; the message may quote the
    command's error output, but never anything it printed on standard output.
    """
    shown = shlex.join(argv)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise ValueError(f"command `{shown}` not found") from None
    except PermissionError:
        raise ValueError(f"command `{shown}` is not executable") from None
    except subprocess.TimeoutExpired:
        raise ValueError(
            f"command `{shown}` did not finish within {COMMAND_TIMEOUT_SECONDS} seconds"
        ) from None
    except OSError as exc:
        raise ValueError(f"command `{shown}` could not start: {exc.strerror or exc}") from None
    value = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        raise ValueError(
            f"command `{shown}` exited with status {done.returncode}"
            + _error_hint(done.stderr, value)
        )
    if not value:
        raise ValueError(f"command `{shown}` printed nothing")
    return Secret(value)


def _error_hint(stderr: bytes, secret: str) -> str:
    """The last line of the command's error output, unless it could hold the secret."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return ""
    last = lines[-1].strip()[:200]
    if secret and secret in last:
        return ""
    return f": {last}"
