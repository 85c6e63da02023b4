"""What every test server shares: `with server:` starts it and stops it, whatever happens.

This module must not import pytest: the benchmarks in ``bench/`` use it too.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Running:
    """A server run by a `with` block: `start` on entering, `stop` on leaving."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
