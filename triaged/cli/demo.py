"""`triaged demo`."""

from __future__ import annotations

import typer

from triaged.cli.base import app, state


@app.command()
def demo() -> None:
    """Run the whole story on a temporary local stack (Maildir + SQLite) and narrate it."""
    from triaged.cli.demo_story import run_demo

    raise typer.Exit(run_demo(typer.echo, verbose=state.verbose))
