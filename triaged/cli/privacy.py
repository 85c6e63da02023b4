"""`triaged forget ADDRESS` and `triaged export --customer ADDRESS`: a customer's
erasure and access requests."""

from __future__ import annotations

import base64
import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from triaged.cli.base import EXIT_CONFIG, EXIT_FAILURE, app, build_app, fail, load_config
from triaged.replies.redact import redact_row
from triaged.usecases.privacy import NotACustomer, Privacy

NO_CUSTOMER = "no customer with that address"
# Columns written as files beside the JSON lines, by table: (column, folder, suffix).
# A file's bytes are named by their SHA-256, which the `attachment` rows name.
FILES = {"message": ("raw", "messages", ".eml"), "outbox_letter": ("raw", "letters", ".eml"),
         "blob": ("data", "attachments", "")}


def _privacy() -> tuple[Privacy, Any]:
    built = build_app(load_config())
    assert built.privacy is not None
    return built.privacy, built


def _key(privacy: Privacy, address: str) -> str:
    try:
        return privacy.customer_key(address)
    except NotACustomer as error:
        fail(str(error), EXIT_CONFIG)


@app.command()
def forget(
    address: Annotated[str, typer.Argument(help="The customer's address (any case; a "
                                                 "display name is allowed).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer: every complaint, message, letter, draft and trace of theirs.

    Their complaints stay as anonymous rows (category, priority, dates, states)
    so reports stay true. Exit 1 when refused or when no customer has that address.
    """
    privacy, built = _privacy()
    try:
        key = _key(privacy, address)
        scope = privacy.scope(key)
        if scope.empty:
            fail(NO_CUSTOMER, EXIT_FAILURE)
        typer.echo(f"{key}: {len(scope.complaint_ids)} complaint(s) "
                   f"({', '.join(scope.references) or 'none'}), "
                   f"{len(scope.message_ids)} message(s)")
        if not yes and not typer.confirm("Erase all of it? This cannot be undone",
                                         default=False):
            fail("nothing erased", EXIT_FAILURE)
        erasure = privacy.forget(key, actor=f"console:{getpass.getuser()}")
    finally:
        built.close()
        built.engine.dispose()
    if erasure is None:
        fail(NO_CUSTOMER, EXIT_FAILURE)
    counts = ", ".join(f"{n} {table}" for table, n in erasure.counts.items() if n)
    typer.echo(f"erased {key}: {counts}")


def export_customer(address: str, output: Path | None) -> None:
    """`export --customer`: the customer's rows as `customer.jsonl` in a new folder,
    their messages and letters as .eml files and their attachments' bytes beside it."""
    privacy, built = _privacy()
    try:
        key = _key(privacy, address)
        folder = output or Path(f"triaged-customer-{key.replace('@', '-at-')}")
        if folder.exists():
            fail(f"{folder} already exists; choose a new name (nothing is overwritten)")
        written: dict[str, int] = {}
        folder.mkdir(mode=0o700, parents=True)
        with (folder / "customer.jsonl").open("w", encoding="utf-8") as out:
            for table, row in privacy.export(key):
                out.write(json.dumps({"type": table, "row": _row(folder, table, row)},
                                     ensure_ascii=False, sort_keys=True, default=_iso) + "\n")
                written[table] = written.get(table, 0) + 1
    finally:
        built.close()
        built.engine.dispose()
    if not written.get("complaint") and not written.get("message"):
        (folder / "customer.jsonl").unlink()
        folder.rmdir()
        fail(NO_CUSTOMER, EXIT_FAILURE)
    counts = ", ".join(f"{n} {table}" for table, n in written.items())
    typer.echo(f"exported {key} to {folder}: {counts}", err=True)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        instant = value if value.tzinfo else value.replace(tzinfo=UTC)
        return instant.astimezone(UTC).isoformat()
    return str(value)


def _row(folder: Path, table: str, row: dict[str, Any]) -> dict[str, Any]:
    # Reply tokens in staff letters would let the reader act as a manager.
    row = redact_row(table, row)
    column, sub, suffix = FILES.get(table, ("", "", ""))
    values: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, bytes | memoryview):
            data = bytes(value)
            if name == column and data:
                path = folder / sub / f"{row['id'] if 'id' in row else row['sha256']}{suffix}"
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(data)
                values[f"{name}_file"] = str(path.relative_to(folder))
                continue
            value = base64.b64encode(data).decode("ascii")
        values[name] = value
    return values
