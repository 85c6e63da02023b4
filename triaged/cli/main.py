"""The `triaged` command line. Exit 0 ok, 2 bad usage or config, 1 failure.

Each group of commands lives in its own module and registers itself on the
shared Typer app when imported.
"""

from __future__ import annotations

from triaged.cli import approval as cli_approval
from triaged.cli import attachments as cli_attachments
from triaged.cli import commands as cli_commands
from triaged.cli import demo as cli_demo
from triaged.cli import health as cli_health
from triaged.cli import ops as cli_ops
from triaged.cli import privacy as cli_privacy
from triaged.cli import report as cli_report
from triaged.cli import run as cli_run
from triaged.cli import suppression as cli_suppression
from triaged.cli.base import app

__all__ = [
    "app", "cli_approval", "cli_attachments", "cli_commands", "cli_demo", "cli_health",
    "cli_ops", "cli_privacy", "cli_report", "cli_run", "cli_suppression", "main",
]


def main() -> None:
    app(prog_name="triaged")
