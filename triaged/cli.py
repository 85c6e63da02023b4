"""The `triaged` command line (SPEC §9). Exit 0 ok, 2 bad usage or config, 1 failure.

Each group of commands lives in its own module and registers itself on the
shared Typer app when imported.
"""

from __future__ import annotations

from triaged import (
    cli_approval,
    cli_commands,
    cli_demo,
    cli_health,
    cli_ops,
    cli_run,
    cli_suppression,
)
from triaged.cli_base import app

__all__ = [
    "app", "cli_approval", "cli_commands", "cli_demo", "cli_health", "cli_ops", "cli_run",
    "cli_suppression", "main",
]


def main() -> None:
    app(prog_name="triaged")
