"""Read-side commands: list, show, stats, quarantine."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from sqlalchemy.engine import Engine

from triaged.cli.attachments import attachments_view
from triaged.cli.base import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    app,
    build_app,
    fail,
    load_config,
    open_database,
    print_json,
    quarantine_app,
)
from triaged.cli.views import (
    complaint_view,
    event_view,
    event_words,
    iso,
    letter_view,
    local_stamp,
    message_view,
    promise_stamp,
    seconds_summary,
    table,
)
from triaged.core.references import likely_meant, normalize
from triaged.domain.clock import SystemClock
from triaged.domain.errors import UnknownReference
from triaged.domain.records import ComplaintState
from triaged.replies.redact import redact_mail, redact_value
from triaged.store import quarantine_rows, queries, sla_queries
from triaged.store.db import transaction, write_transaction
from triaged.store.rows import raw_was_cut
from triaged.usecases import lookup

REFERENCE_SYMBOLS = 7  # six random symbols and the check symbol (triaged.references)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def open_store() -> Engine:
    return open_database(load_config())


@app.command("list")
def list_complaints(
    state_filter: Annotated[
        str | None, typer.Option("--state", help="Only complaints in this state.")
    ] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only overdue complaints.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List complaints, oldest first."""
    if state_filter is not None and state_filter not in {s.value for s in ComplaintState}:
        valid = ", ".join(s.value for s in ComplaintState)
        fail(f"--state: expected one of {valid}", 2)
    config = load_config()
    with transaction(open_database(config)) as session:
        rows = queries.list_complaints(session, state=state_filter, overdue=overdue,
                                       now=SystemClock().now())
        views = [complaint_view(c) for c in rows]
    if as_json:
        print_json(views)
        return
    if not views:
        typer.echo("no complaints")
        return
    zone = config.business.timezone
    header = ("REFERENCE", "STATE", "PROMISED BY", "LEVEL", "CATEGORY", "CUSTOMER", "SUBJECT")
    cells = [(v["reference"], v["state"], promise_stamp(v["due_at"], zone),
              str(v["escalation_level"] or "-"), v["category"] or "-", v["customer"],
              _cut(v["subject"], SUBJECT_CHARS)) for v in views]
    for line in table(header, cells):
        typer.echo(line)


SUBJECT_CHARS = 50


def _cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


@app.command()
def show(reference: str, as_json: JsonFlag = False) -> None:
    """One complaint with its messages, letters and events."""
    config = load_config()
    engine = open_database(config)
    canonical = normalize(reference)
    if canonical is None:
        fail(_bad_reference(reference, engine), 2)
    with transaction(engine) as session:
        try:
            complaint, incoming, letters, events = lookup.complaint_detail(session, canonical)
        except UnknownReference as unknown:
            fail(str(unknown))
        view = complaint_view(complaint)
        view["messages"] = [message_view(m) for m in incoming]
        view["letters"] = [letter_view(letter) for letter in letters]
        view["events"] = [event_view(e) for e in events]
        view["attachments"] = attachments_view(session.connection(), complaint.id or 0)
    # What is printed may be pasted anywhere: no reply token in it may still work.
    view = redact_value(view)
    if as_json:
        print_json(view)
        return
    _print_complaint(view, config.business.timezone)


def _print_complaint(view: dict[str, Any], zone: str) -> None:
    typer.echo(f"{view['reference']}  {view['state']}  promised by "
               f"{promise_stamp(view['due_at'], zone)}")
    typer.echo(f"customer: {view['customer_name']} <{view['customer']}>")
    typer.echo(f"subject:  {view['subject']}")
    typer.echo(f"received: {local_stamp(view['received_at'], zone)}")
    if view["forwarded_by"]:
        typer.echo(f"forwarded by: {view['forwarded_by']}")
    if view["linked_reference"]:
        typer.echo(f"linked to: {view['linked_reference']}")
    for m in view["messages"]:
        typer.echo(f"\n-- {m['outcome']} {local_stamp(m['received_at'], zone)} "
                   f"from {m['sender']}")
        if raw_was_cut(m["reason"]):
            typer.echo(f"({m['reason']})")
        typer.echo(m["text"][:2000])
    if view["attachments"]:
        typer.echo("\nfiles (triaged attachment REF N writes one out):")
    for f in view["attachments"]:
        typer.echo(f"  {f['n']:>3}. {f['direction']:<3} {f['name']} ({f['content_type']}, "
                   f"{f['size']} bytes){'' if f['kept'] else ' not kept: ' + f['reason']}")
    typer.echo("\nletters:")
    for line in table(("KIND", "STATE", "TO", "SUBJECT"),
                      [(letter["kind"], letter["state"], letter["to"], letter["subject"])
                       for letter in view["letters"]]):
        typer.echo(f"  {line}")
    typer.echo("\nevents:")
    for line in table(("AT", "EVENT", "BY", "WHAT"),
                      [(local_stamp(e["at"], zone), e["kind"], e["actor"] or "-",
                        event_words(e["detail"], zone)) for e in view["events"]]):
        typer.echo(f"  {line}")


def _bad_reference(text: str, engine: Engine) -> str:
    """Why `text` is no reference: a typo (seven symbols, wrong check) or not one at all;
    for a typo, the existing references one slip away from it."""
    if len(re.sub(r"[^0-9A-Za-z]", "", text)) == REFERENCE_SYMBOLS:
        with engine.connect() as conn:
            known = queries.existing_references(conn, likely_meant(text))
        hint = f"; did you mean {' or '.join(known)}?" if known else " (a mistyped symbol?)"
        return f"{text!r} is not a valid reference: its check character does not match{hint}"
    return f"{text!r} is not a reference: expected seven symbols such as K7M-Q3X9"


@app.command()
def stats(as_json: JsonFlag = False) -> None:
    """Counts by outcome and state, promises kept, reply and resolution times, top categories."""
    with transaction(open_store()) as session:
        sla = sla_queries.sla_figures(session, SystemClock().now())
        figures: dict[str, Any] = {
            "messages": queries.outcome_counts(session),
            "complaints": queries.state_counts(session),
            "letters": queries.letters_by_state(session),
            "answered_on_time": sla["answered_on_time"],
            "overdue_now": sla["overdue_now"],
            "time_to_holding_reply_seconds": seconds_summary(
                queries.holding_reply_delays(session)
            ),
            "time_to_resolution_seconds": seconds_summary(sla["resolution_seconds"]),
            "top_categories_this_week": sla["top_categories_this_week"],
        }
    if as_json:
        print_json(figures)
        return
    for section, values in figures.items():
        typer.echo(f"{section}:")
        if isinstance(values, list):
            for entry in values or [{"category": "(none yet)", "count": ""}]:
                typer.echo(f"  {entry['category']:<18} {entry['count']}")
            continue
        for key, value in values.items():
            typer.echo(f"  {key:<18} {_figure(key, value)}")


def _figure(key: str, value: Any) -> str:
    """A stats value as a person reads it: a share as a percentage, seconds as a span."""
    if value is None:
        return "-"
    if key == "share":
        return f"{100 * value:.1f}%"
    if key in ("median", "p90"):
        return _span(float(value))
    if isinstance(value, dict):
        return ", ".join(f"level {k}: {v}" for k, v in value.items()) or "-"
    return str(value)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


@quarantine_app.command("list")
def quarantine_list(as_json: JsonFlag = False) -> None:
    """Messages waiting in quarantine, with the reason."""
    with transaction(open_store()) as session:
        parked: list[dict[str, Any]] = [
            {"id": p.id, "message_id": p.message_id, "sha256": p.sha256, "reason": p.reason,
             "received_at": iso(p.received_at), "size": p.size}
            for p in quarantine_rows.list_quarantine(session.connection())
        ]
    parked = redact_value(parked)
    if as_json:
        print_json(parked)
        return
    if not parked:
        typer.echo("quarantine is empty")
    for r in parked:
        typer.echo(f"{r['id']:>5}  {r['received_at'][:19]}  {r['reason']}")


@quarantine_app.command("show")
def quarantine_show(quarantine_id: int) -> None:
    """Print the raw message of one quarantine entry."""
    with transaction(open_store()) as session:
        entry = quarantine_rows.get_quarantine(session.connection(), quarantine_id)
        if entry is None:
            fail(f"no quarantine entry {quarantine_id}")
        typer.echo(f"# reason: {entry.reason}  state: {entry.state}", err=True)
        typer.echo(redact_mail(entry.raw or b"").decode("utf-8", "replace"))


@quarantine_app.command("discard")
def quarantine_discard(quarantine_id: int) -> None:
    """Mark a quarantined message as dealt with; its bytes stay stored."""
    with write_transaction(open_store()) as conn:
        try:
            quarantine_rows.set_quarantine_state(conn, quarantine_id, "discarded",
                                                 SystemClock().now(), actor="cli")
        except (LookupError, ValueError) as error:
            # Unknown id, or an entry already replayed or discarded.
            fail(str(error).strip("'\""), EXIT_FAILURE)
    typer.echo(f"quarantine entry {quarantine_id} discarded")


@quarantine_app.command("replay")
def quarantine_replay(
    quarantine_id: int,
    budget: Annotated[str | None, typer.Option(
        "--budget", help="How long reading it may take this time, e.g. '120s' "
                         "(default: [limits] message_budget).")] = None,
) -> None:
    """Process a quarantined message again (after a fix); it may now become a complaint."""
    from triaged.config.reader import positive_timedelta
    from triaged.domain.records import RawMail

    seconds = None
    if budget is not None:
        try:
            seconds = positive_timedelta(budget).total_seconds()
        except ValueError as error:
            fail(f"--budget: {error}", EXIT_CONFIG)
    built = build_app(load_config())
    if seconds is not None and built.intake.reader is not None:
        built.intake.reader.budget = seconds
    with write_transaction(built.engine) as conn:
        entry = quarantine_rows.get_quarantine(conn, quarantine_id)
        if entry is None:
            fail(f"no quarantine entry {quarantine_id}")
        if entry.state != "open":
            fail(f"quarantine entry {quarantine_id} is already {entry.state}")
        if raw_was_cut(entry.stored_note):
            fail(f"quarantine entry {quarantine_id} is not stored whole ({entry.stored_note}): "
                 "a replay would read a different message; `quarantine show` has what was kept")
        raw = RawMail(entry.mailbox, entry.folder, entry.uidvalidity, entry.uid,
                      str(entry.uid), entry.raw or b"")
        quarantine_rows.set_quarantine_state(conn, quarantine_id, "replayed",
                                             built.clock.now(), actor="cli")
    outcome = built.intake.process(raw)
    typer.echo(f"quarantine entry {quarantine_id} replayed: {outcome.value}")
