"""The README's command table lists every command `triaged --help` lists, and no other."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.core import TyperGroup

from triaged.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_cells() -> list[str]:
    """The first cell of each row of the table headed `| command | does |`."""
    lines = README.read_text().splitlines()
    start = lines.index("| command | does |")
    cells = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells.append(line.split(" | ")[0])
    return cells


def _commands() -> dict[str, list[str]]:
    """Each command's name, with its subcommands' names for a group."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    return {name: sorted(command.commands) if isinstance(command, TyperGroup) else []
            for name, command in root.commands.items()}


def test_the_table_names_every_command_and_no_other() -> None:
    cells = _table_cells()
    named = {m for cell in cells for m in re.findall(r"`triaged ([a-z-]+)", cell)}
    assert named == set(_commands())


def test_the_table_names_every_subcommand() -> None:
    cells = " ".join(_table_cells())
    missing = [f"{group} {sub}" for group, subs in _commands().items() for sub in subs
               if not re.search(rf"`triaged {group} [^`]*\b{sub}\b", cells)]
    assert missing == []
