"""`triaged suppression list|lift`: addresses whose mail failed, and taking them back.

A suppression is a customer's address that bounced hard (nothing is sent to
it); an alert is one of the business's own addresses whose mail failed (it
still gets its mail, and `triaged health` fails until a letter reaches it
again). `lift` removes either, and records who did it in the log and the
event journal.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from triaged.cli.base import EXIT_FAILURE, app, fail, load_config, open_database, print_json
from triaged.cli.views import iso
from triaged.domain.clock import SystemClock
from triaged.domain.events import Event
from triaged.domain.records import EventKind
from triaged.store import suppression
from triaged.store.db import writer
from triaged.store.journal import Journal

log = logging.getLogger("triaged.suppression")

suppression_app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Addresses whose mail bounced: customers' suppressions and alerts on the "
         "business's own addresses.")
app.add_typer(suppression_app, name="suppression")


def _view(entry: suppression.Entry) -> dict[str, Any]:
    return {"address": entry.email,
            "kind": "suppressed" if entry.stops_mail else "alert",
            "open": entry.stops_mail or not entry.cleared,
            "reason": entry.reason, "since": iso(entry.since)}


@suppression_app.command("list")
def suppression_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Suppressed addresses (nothing is sent to them) and alerts, newest first."""
    engine = open_database(load_config())
    try:
        with writer(engine) as conn, conn.begin():
            found = [_view(entry) for entry in suppression.entries(conn)]
    finally:
        engine.dispose()
    if as_json:
        print_json(found)
        return
    if not found:
        typer.echo("no address is suppressed")
    for item in found:
        kind = item["kind"] if item["open"] else "alert (cleared: delivered since)"
        typer.echo(f"{item['address']}  {kind}  since {item['since'][:19]}  {item['reason']}")


@suppression_app.command("lift")
def suppression_lift(
    address: Annotated[str, typer.Argument(help="The address, in any case.")],
) -> None:
    """Send to ADDRESS again (a suppression), or close its alert; exit 1 when unknown."""
    engine = open_database(load_config())
    now = SystemClock().now()
    try:
        with writer(engine) as conn, conn.begin(), Journal(conn) as journal:
            lifted = suppression.lift(conn, address)
            if lifted is not None:
                journal.record(Event(None, EventKind.SUPPRESSION_LIFTED, now, "cli",
                                     detail={"address": lifted.email,
                                             "was": _view(lifted)["kind"],
                                             "reason": lifted.reason}))
    finally:
        engine.dispose()
    if lifted is None:
        fail(f"{address.strip()} is not suppressed", EXIT_FAILURE)
    log.info("suppression of %s lifted from the console (it was: %s)", lifted.email,
             lifted.reason)
    typer.echo(f"{lifted.email}: lifted; mail to it is sent again")
