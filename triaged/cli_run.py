"""`triaged run` and `triaged check`."""

from __future__ import annotations

from typing import Annotated

import typer

from triaged.cli_base import EXIT_CONFIG, EXIT_FAILURE, app, apply_logging, fail, load_config
from triaged.store.db import SchemaMismatch


@app.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="One full cycle, then exit.")] = False,
) -> None:
    """Run the daemon (or one cycle with --once)."""
    # Imported here: the read-only commands (list, show, stats) start faster
    # without the intake, parser and transports they never use.
    from triaged import app as wiring
    from triaged.cycle import run_cycle

    config = load_config()
    try:
        built = wiring.build(config)
    except SchemaMismatch as error:
        # Restarting will not mend it: exit 2, as for a bad config (see systemd's
        # RestartPreventExitStatus), until the operator runs `triaged migrate`.
        fail(str(error), EXIT_CONFIG)
    except Exception as error:  # noqa: BLE001 - any start-up failure is one clear line
        fail(f"cannot start: {type(error).__name__}: {error}")
    if once:
        try:
            report = run_cycle(built)
        finally:
            built.close()
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report.tally.counts.items())) or "no mail"
        # The failures themselves were logged as they happened, one line each.
        failures = len(report.failures)
        outcome = "cycle done" if report.ok else f"cycle incomplete ({failures} failure(s))"
        typer.echo(f"{outcome}: {counts}; {report.letters_tried} letter(s) tried", err=True)
        if not report.ok:
            raise typer.Exit(EXIT_FAILURE)
        return
    from triaged.daemon import Daemon

    raise typer.Exit(Daemon(config, built, on_reload=apply_logging).run())


@app.command()
def check() -> None:
    """Validate the config, then try the database, mailboxes, SMTP and templates."""
    from triaged.checks import run_checks

    config = load_config()
    results = run_checks(config)
    width = max(len(r.name) for r in results)
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        typer.echo(f"{mark}  {result.name.ljust(width)}  {result.detail}")
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILURE)
