"""`triaged health`: exit 0 when the service does its job, 1 (with the reasons) when not."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from triaged.cli.base import EXIT_FAILURE, app, load_config, print_json


@app.command()
def health(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check from the database that every mailbox is polled and letters are sent."""
    from triaged.domain.clock import SystemClock
    from triaged.ops.health import check_health
    from triaged.store.db import make_engine

    config = load_config()
    engine = make_engine(config.database.url)
    try:
        verdict = check_health(config, engine, SystemClock().now())
    finally:
        engine.dispose()
    if as_json:
        print_json(verdict.as_json())
    elif verdict.healthy:
        polled = ", ".join(
            f"{m.name} polled {_ago(m.age(verdict.checked_at))}" for m in verdict.mailboxes)
        typer.echo(f"healthy: {polled}; {verdict.outbox.waiting} letter(s) waiting")
    else:
        typer.echo("unhealthy:")
        for problem in verdict.problems:
            typer.echo(f"  - {problem}")
    if not verdict.healthy:
        raise typer.Exit(EXIT_FAILURE)


def _ago(age: timedelta | None) -> str:
    return "never" if age is None else f"{int(age.total_seconds())} s ago"
