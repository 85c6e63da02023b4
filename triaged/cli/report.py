"""`triaged report`: the owner's report of a period, printed, written as HTML, or mailed.

Dates are business-time days, both included (default: the last full week,
Monday to Sunday). `--json` prints the figures; `--html PATH` writes the
letter as one self-contained file (charts as data URIs); `--send` queues it
to `report.to` (the daemon, or `run --once`, sends it). Without any of them
the text part is printed. Bad dates exit 2 with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from triaged.cli.base import EXIT_CONFIG, app, build_app, fail, load_config, print_json
from triaged.core.report.periods import BadPeriod, asked_period

if TYPE_CHECKING:
    from triaged.core.report.figures import ReportFigures
    from triaged.usecases.report import Reports


@app.command("report")
def report_command(
    since: Annotated[str, typer.Option(
        "--since", help="First day, YYYY-MM-DD (business time).")] = "",
    until: Annotated[str, typer.Option(
        "--until", help="Last day included, YYYY-MM-DD (business time).")] = "",
    send: Annotated[bool, typer.Option(
        "--send", help="Mail the report to report.to now.")] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write the letter as one self-contained HTML file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """The owner's report: complaints per day and by category, promises kept, response
    times, what is overdue, satisfaction answers and the oldest open complaints."""
    config = load_config()
    zone = config.business.zone
    if send and not config.report.to:
        fail("report.to is empty: there is nobody to send the report to", EXIT_CONFIG)
    built = build_app(config)
    try:
        today = built.clock.now().astimezone(zone).date()
        try:
            period = asked_period(since, until, today, zone)
        except BadPeriod as bad:
            fail(str(bad), EXIT_CONFIG)
        reports = built.reports
        assert reports is not None
        figures = reports.figures(period)
        if as_json:
            print_json(figures.as_json())
        if html is not None:
            _write_html(reports, figures, html, quiet=as_json)
        if send:
            queued = reports.send(period)
            typer.echo(f"report queued to {queued} address(es): "
                       f"{', '.join(config.report.to)}", err=as_json)
        if not (as_json or html is not None or send):
            typer.echo(reports.letter(figures).text, nl=False)
    finally:
        built.close()
        built.engine.dispose()


def _write_html(reports: Reports, figures: ReportFigures, path: Path, *, quiet: bool) -> None:
    """Write the letter as one file; say so on stderr when stdout carries JSON (`quiet`)."""
    try:
        path.write_text(reports.letter(figures).standalone_html, encoding="utf-8")
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or error}")
    typer.echo(f"written to {path}", err=quiet)
