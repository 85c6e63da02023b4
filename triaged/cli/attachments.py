"""`triaged attachment REF N`: write one of a complaint's files out.

The file goes to `--output`, else to its own name (made safe: no folders, no
control characters) in the current folder; an existing file is never
overwritten (a free name "name (2).ext" is chosen, or, for `--output`, the
command refuses).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import Connection

from triaged.cli.base import EXIT_CONFIG, app, fail, load_config, open_database
from triaged.core.attachments import safe_name
from triaged.core.references import normalize
from triaged.store import approval_rows, attachment_rows
from triaged.store.db import transaction
from triaged.usecases.attachments import fallback_name


def attachments_view(conn: Connection, complaint_id: int) -> list[dict[str, Any]]:
    """`show --json`'s `attachments`: one object per file, in order."""
    return [{"n": f.n, "name": f.name, "content_type": f.content_type, "size": f.size,
             "sha256": f.sha256, "direction": f.direction, "kept": f.sha256 is not None,
             "reason": f.reason}
            for f in attachment_rows.files_of(conn, complaint_id)]


def _free(path: Path) -> Path:
    stem, suffix = path.stem, path.suffix
    for number in range(2, 10_000):
        candidate = path.with_name(f"{stem} ({number}){suffix}")
        if not candidate.exists():
            return candidate
    fail(f"no free name for {path.name} in {path.parent}")


def _write_new(path: Path, data: bytes) -> None:
    # O_EXCL: a file that appeared meanwhile is not overwritten either.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@app.command()
def attachment(
    reference: str,
    n: Annotated[int, typer.Argument(help="The file's number, as `show` lists it.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Where to write it (never overwritten).")] = None,
) -> None:
    """Write one of a complaint's files (from `show REF`) to a file."""
    canonical = normalize(reference)
    if canonical is None:
        fail(f"{reference!r} is not a valid reference", EXIT_CONFIG)
    with transaction(open_database(load_config())) as session:
        conn = session.connection()
        complaint_id = approval_rows.complaint_id_by_reference(conn, canonical)
        if complaint_id is None:
            fail(f"no complaint has the reference {canonical}")
        found = [f for f in attachment_rows.files_of(conn, complaint_id) if f.n == n]
        if not found:
            fail(f"{canonical} has no file {n} (`triaged show {canonical}` lists them)",
                 EXIT_CONFIG)
        file = found[0]
        data = attachment_rows.content(conn, file.sha256) if file.sha256 else None
    if data is None:
        fail(f"{canonical} file {n} ({file.name}) was not kept: {file.reason}")
    if output is not None:
        if output.exists():
            fail(f"{output} exists: it is not overwritten", EXIT_CONFIG)
        target = output
    else:
        target = Path.cwd() / safe_name(file.name, fallback_name(n, file.content_type))
        if target.exists():
            target = _free(target)
    try:
        _write_new(target, data)
    except OSError as error:
        fail(f"cannot write {target}: {error.strerror or error}", EXIT_CONFIG)
    typer.echo(f"{target} ({len(data)} bytes, sha256 {file.sha256})")
