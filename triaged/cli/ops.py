"""Operations: `migrate`, `export`, `import`, `backup`: schema upgrades, moving data, backups."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from triaged.cli.base import EXIT_CONFIG, EXIT_FAILURE, app, fail, load_config
from triaged.cli.privacy import export_customer
from triaged.domain.clock import SystemClock
from triaged.domain.errors import BackupError, ExportError
from triaged.replies.redact import redact_row
from triaged.store.backup import backup_sqlite, destination, sqlite_path
from triaged.store.db import (
    SchemaStatus,
    make_engine,
    migrate,
    newer_than_code,
    schema_status,
)
from triaged.store.export import export_rows, import_rows


@app.command("migrate")
def migrate_command(
    check: Annotated[bool, typer.Option(
        "--check", "--status",
        help="Only say whether an upgrade is pending: exit 0 if not, 1 if it is.")] = False,
) -> None:
    """Upgrade the database schema to the newest revision this triaged knows."""
    config = load_config()
    engine = make_engine(config.database.url)
    try:
        status = _known_schema(engine)
        if status.up_to_date:
            typer.echo(f"schema at {status.head}, the newest: nothing to do")
            return
        before = status.current or "no schema"
        typer.echo(f"{'upgrade pending' if check else 'upgrading'}: {before} → {status.head}")
        for revision, description in status.pending:
            typer.echo(f"  {revision}  {description}")
        if check:
            raise typer.Exit(EXIT_FAILURE)
        try:
            migrate(engine)
        except SQLAlchemyError as error:
            # One transaction: a failed upgrade leaves the schema where it was.
            fail(f"the upgrade failed and was rolled back, the schema is still at {before}: "
                 f"{type(error).__name__}: {error}")
        typer.echo(f"schema upgraded: {before} → {status.head}")
    finally:
        engine.dispose()


@app.command("export")
def export_command(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write here instead of standard output (with --customer: "
                               "the new folder).")] = None,
    customer: Annotated[str | None, typer.Option(
        "--customer", help="Only what is stored about this customer (a subject access "
                           "request): JSON lines with .eml files beside them.")] = None,
) -> None:
    """Write every complaint, message, letter and event as JSON lines (for `triaged import`)."""
    if customer is not None:
        export_customer(customer, output)
        return
    config = load_config()
    engine = make_engine(config.database.url)
    try:
        _known_schema(engine)
        # Upgraded first when every command may upgrade; otherwise exported at
        # the schema it has (reading an older schema is safe): e.g. before `migrate`.
        if config.database.migrate_on_start:
            migrate(engine)
        with _output(output) as out:
            # A reply token in the file would let its reader act as a manager.
            summary = export_rows(engine, out, scrub=redact_row)
    except (ExportError, OSError) as error:
        fail(f"export failed: {error}")
    finally:
        engine.dispose()
    typer.echo(f"exported schema {summary.schema}: {_counts(summary.rows)}", err=True)


def _known_schema(engine: Engine) -> SchemaStatus:
    """The schema's status; a schema from a newer triaged is refused (exit 2)."""
    status = schema_status(engine)
    if status.ahead:
        fail(newer_than_code(status), EXIT_CONFIG)
    return status


def _counts(rows: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {table}" for table, n in rows.items() if n) or "no rows"


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """Standard output, or a file that appears under its name only once complete."""
    if path is None or str(path) == "-":
        yield sys.stdout
        return
    if path.exists():
        fail(f"{path} already exists; choose a new name (nothing is overwritten)")
    partial = path.with_name(f".{path.name}.partial")
    # Owner-only: the export holds every customer's mail.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


@app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(
        help="A file written by `triaged export` (- for standard input).")],
) -> None:
    """Load an export into the configured database, which must be empty."""
    config = load_config()
    engine = make_engine(config.database.url)
    try:
        with _input(source) as lines:
            summary = import_rows(engine, lines)
    except (ExportError, OSError, UnicodeDecodeError) as error:
        fail(f"import refused: {error}")
    except SQLAlchemyError as error:
        fail(f"import failed and was rolled back, the database is unchanged: "
             f"{type(error).__name__}: {error}")
    finally:
        engine.dispose()
    typer.echo(f"imported into schema {summary.schema}: {_counts(summary.rows)}")


@contextlib.contextmanager
def _input(path: Path) -> Iterator[IO[str]]:
    if str(path) == "-":
        yield sys.stdin
        return
    with path.open(encoding="utf-8") as lines:
        yield lines


@app.command("backup")
def backup_command(
    dest: Annotated[Path, typer.Argument(
        help="The new backup file, or a folder to put a time-stamped one in.")],
) -> None:
    """Copy the SQLite database while triaged runs (online backup), then verify the copy."""
    config = load_config()
    try:
        source = sqlite_path(config.database.url)
    except BackupError as error:
        fail(str(error), EXIT_CONFIG)
    try:
        report = backup_sqlite(source, destination(dest, SystemClock().now()))
    except (BackupError, OSError) as error:
        fail(f"backup failed: {error}")
    typer.echo(f"backed up {source} to {report.path} ({report.size} bytes, "
               f"integrity check {report.integrity})")
