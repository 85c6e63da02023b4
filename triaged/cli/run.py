"""`triaged run` and `triaged check`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from triaged.cli.base import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    app,
    apply_logging,
    fail,
    load_config,
    print_json,
    state,
)
from triaged.domain.errors import SchemaMismatch

if TYPE_CHECKING:
    from triaged.app import App
    from triaged.config.records import Config


@app.command()
def run(
    once: Annotated[bool, typer.Option("--once", help="One full cycle, then exit.")] = False,
    include_existing: Annotated[bool, typer.Option(
        "--include-existing",
        help='With --once: also read and answer the mail that was already in a mailbox '
             'when triaged first looked (start = "now" left it alone).')] = False,
) -> None:
    """Run the daemon (or one cycle with --once)."""
    if include_existing and not once:
        fail("--include-existing goes with --once", EXIT_CONFIG)
    config = load_config()
    built = _build(config)
    if once:
        _run_once(built, include_existing)
        return
    from triaged.daemon.service import Daemon

    raise typer.Exit(Daemon(config, built, on_reload=apply_logging).run())


def _build(config: Config) -> App:
    # Imported here: the read-only commands (list, show, stats) start faster
    # without the intake, parser and transports they never use.
    from triaged import app as wiring

    try:
        return wiring.build(config)
    except SchemaMismatch as error:
        # Restarting will not mend it: exit 2, as for a bad config (see systemd's
        # RestartPreventExitStatus), until the operator runs `triaged migrate`.
        fail(str(error), EXIT_CONFIG)
    except Exception as error:  # noqa: BLE001 - any start-up failure is one clear line
        fail(f"cannot start: {type(error).__name__}: {error}")


def _run_once(built: App, include_existing: bool) -> None:
    """One cycle, summed up on stderr; exit status 1 when part of it failed."""
    from triaged.daemon.cycle import run_cycle
    from triaged.usecases.polling import left_alone_hint

    try:
        report = run_cycle(built, include_existing=include_existing)
    finally:
        built.close()
    counts = ", ".join(f"{n} {k}" for k, n in sorted(report.tally.counts.items()))
    if not counts:
        counts = "no new mail" if report.left_alone else "no mail"
    # The failures themselves were logged as they happened, one line each.
    failures = len(report.failures)
    outcome = "cycle done" if report.ok else f"cycle incomplete ({failures} failure(s))"
    typer.echo(f"{outcome}: {counts}; {report.letters_tried} letter(s) tried", err=True)
    for name, count in report.left_alone.items():
        # Said again after the summary: the log line above is easy to miss.
        typer.echo(left_alone_hint(name, count), err=True)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Validate the config, then try the database, mailboxes, SMTP, approval key, templates.

    Exit status: 0 every check passed (warnings allowed), 2 the config is unusable,
    1 some check failed.
    """
    from triaged.ops.checks import run_checks

    if as_json:
        _config_problems_as_json()
    config = load_config()
    results = run_checks(config)
    if as_json:
        print_json({"ok": all(r.ok for r in results),
                    "checks": [{"check": r.name, "result": r.status.value, "detail": r.detail}
                               for r in results]})
    else:
        width = max(len(r.name) for r in results)
        for result in results:
            typer.echo(f"{result.status.value:<4}  {result.name.ljust(width)}  {result.detail}")
    if not all(r.ok for r in results):
        raise typer.Exit(EXIT_FAILURE)


def _config_problems_as_json() -> None:
    """With --json, an unusable config is reported on stdout too (then exit 2)."""
    from triaged.config import loading as config_module
    from triaged.domain.errors import ConfigError

    path = state.config_path or config_module.default_path()
    try:
        config_module.load(path)
    except ConfigError as error:
        print_json({"ok": False, "checks": [{"check": "config", "result": "FAIL",
                                             "detail": str(path),
                                             "problems": error.problems}]})
