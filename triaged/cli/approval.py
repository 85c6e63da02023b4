"""Console decisions: `draft`, `approve`, `reject`, audited like the ones made by email.

Each command runs in one transaction: the draft or decision, its events and
the letters it causes (approval requests, the final letter, the notice to
staff) commit together; the running daemon sends the letters within seconds
(or `triaged run --once`). The actor in the event log is `console:<user>`.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from triaged.cli.base import EXIT_CONFIG, app, build_app, fail, load_config
from triaged.core.attachments import type_of_name
from triaged.core.references import normalize
from triaged.domain.errors import ApprovalRefused, UnknownReference
from triaged.store.attachment_rows import NewFile
from triaged.usecases.attachments import new_file


def _actor() -> str:
    try:
        return f"console:{getpass.getuser()}"
    except (KeyError, OSError):
        return "console"


def _run(reference: str, action: str, *, text: str = "", reason: str = "",
         files: Sequence[NewFile] = ()) -> str:
    from triaged.store.db import write_transaction
    from triaged.usecases.lookup import complaint_facts

    canonical = normalize(reference)
    if canonical is None:
        fail(f"{reference!r} is not a valid reference", EXIT_CONFIG)
    built = build_app(load_config())
    approvals = built.approvals
    now = built.clock.now()
    try:
        with write_transaction(built.engine) as conn:
            facts = complaint_facts(conn, canonical)
            if action == "draft":
                draft = approvals.record_draft(conn, facts, text, author=_actor(), source="cli",
                                               message_row_id=None, now=now, files=files)
                return (f"{canonical}: version {draft.version} recorded; approval requested "
                        "from the managers")
            if action == "approve":
                detail = approvals.approve(conn, facts, by=_actor(), via="console",
                                           message_row_id=None, now=now)
                return (f"{canonical}: version {detail['version']} approved; the final letter "
                        "is queued for the customer")
            detail = approvals.reject(conn, facts, by=_actor(), via="console", reason=reason,
                                      message_row_id=None, now=now)
            return f"{canonical}: version {detail['version']} rejected; staff are told why"
    except UnknownReference as unknown:
        fail(str(unknown))
    except ApprovalRefused as refused:
        fail(refused.reason)
    finally:
        built.close()
        built.engine.dispose()


@app.command()
def draft(
    reference: str,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Read the resolution from "
                                              "this file (else standard input).")] = None,
    attach: Annotated[list[Path] | None, typer.Option(
        "--attach", "-a", help="A file to send with the final letter (repeatable).")] = None,
) -> None:
    """Record a resolution draft and send it to the managers for approval."""
    try:
        text = file.read_text(encoding="utf-8") if file is not None else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read the resolution: {error}", EXIT_CONFIG)
    files = []
    for index, path in enumerate(attach or [], start=1):
        try:
            data = path.read_bytes()
        except OSError as error:
            fail(f"cannot read the file to attach {path}: {error.strerror or error}",
                 EXIT_CONFIG)
        kind = type_of_name(path.name) or "application/octet-stream"
        files.append(new_file(index, path.name, kind, data))
    typer.echo(_run(reference, "draft", text=text, files=files))


@app.command()
def approve(reference: str) -> None:
    """Approve the current draft: the final letter goes to the customer."""
    typer.echo(_run(reference, "approve"))


@app.command()
def reject(
    reference: str,
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (told to staff).")],
) -> None:
    """Reject the current draft: back to in progress, staff told the reason."""
    typer.echo(_run(reference, "reject", reason=reason))
