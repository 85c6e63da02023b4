"""The `triaged` command line. Exit 0 ok, 2 bad usage or config, 1 failure.

Each group of commands lives in its own module and registers itself on the
shared Typer app when imported.
"""

from __future__ import annotations

import importlib.util
import sys

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
    _leave_the_script_alone()
    app(prog_name="triaged")


def _leave_the_script_alone() -> None:
    """Name the running `triaged` script as the package's `__main__` module.

    The reading workers start from a fork server, and multiprocessing re-runs the
    parent's main script in it, unless that script is a package's `__main__`
    (as under `python -m triaged`). Run as the installed `triaged` script, the
    fork server would import the whole command line for nothing, and every
    reading worker would carry it: tens of MB each.
    """
    script = sys.modules.get("__main__")
    if script is not None and getattr(script, "__spec__", None) is None \
            and getattr(script, "__file__", None):
        script.__spec__ = importlib.util.find_spec("triaged.__main__")
