"""A complaint's files: kept as they arrive, carried by the letters about it.

`keep` records the files of a customer's message (once per content) in the
caller's transaction; a forward from a trusted forwarder gives the original
customer's files. `for_letter` gives what a letter to staff or a manager
carries (`core.attachments.plan`: up to `[attachments] forward_max`, nothing
dangerous) and, for its template, the files it only lists and why.
`history` is what every letter to staff or managers says of the customer's
earlier complaints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from triaged.config.records import Config
from triaged.core.attachments import (
    StoredFile,
    extension_of_type,
    human_size,
    plan,
    safe_name,
)
from triaged.domain.records import Attachment, LetterFile, ParsedMail
from triaged.store import attachment_rows
from triaged.store.attachment_rows import IN, OUT, NewFile

# A message with more files than this keeps the first ones; the rest are listed.
MAX_FILES = 1_000
# A letter names at most this many files it does not carry; `show` lists them all.
LISTED_IN_LETTER = 50


def fallback_name(n: int, content_type: str) -> str:
    """A name for a file sent without one: "attachment-3.jpg"."""
    return f"attachment-{n}{extension_of_type(content_type)}"


def new_file(index: int, name: str, content_type: str, data: bytes | None,
             reason: str = "", *, inline: bool = False, content_id: str = "",
             size: int | None = None) -> NewFile:
    """A file to record, its name made safe (no folders, no control characters)."""
    safe = safe_name(name, fallback_name(index, content_type))
    digest = hashlib.sha256(data).hexdigest() if data is not None else ""
    return NewFile(name=safe, content_type=content_type.lower()[:200],
                   size=len(data) if data is not None else (size or 0), data=data,
                   sha256=digest, reason=reason, inline=inline, content_id=content_id)


def customer_files(mail: ParsedMail, *, forwarded: bool) -> list[Attachment]:
    """The customer's files in `mail`: for a trusted forward, the original's (the
    forwarded message itself is only their envelope); else the sender's own, not
    the files inside a message they attached (which travel inside it)."""
    if forwarded:
        return [a for a in mail.attachments if a.content_type != "message/rfc822"]
    return [a for a in mail.attachments if not a.embedded]


def from_mail(files: Sequence[Attachment], *, too_large: str = "",
              start: int = 1) -> list[NewFile]:
    """Files to record; `too_large` (why the message's files are not kept) lists them all."""
    made: list[NewFile] = []
    for index, file in enumerate(files, start=start):
        if too_large or index - start >= MAX_FILES:
            why = too_large or f"not kept: the message has more than {MAX_FILES} files"
            made.append(new_file(index, file.filename, file.content_type, None, why,
                                 size=file.size))
            continue
        made.append(new_file(index, file.filename, file.content_type, file.data, file.note,
                             inline=file.inline and file.content_type.startswith("image/"),
                             content_id=file.content_id))
    return made


def keep(conn: Connection, config: Config, complaint_id: int, message_row_id: int,
         mail: ParsedMail, *, forwarded: bool, raw_size: int, now: datetime) -> int:
    """Record the customer's files of one stored message; how many there were."""
    files = customer_files(mail, forwarded=forwarded)
    max_size = config.attachments.max_size
    too_large = ""
    if raw_size > max_size:
        too_large = (f"not kept: the message is {human_size(raw_size)}, over "
                     f"[attachments] max_size ({human_size(max_size)})")
    made = from_mail(files, too_large=too_large)
    attachment_rows.add_files(conn, complaint_id, made, direction=IN,
                              message_row_id=message_row_id, now=now)
    return len(made)


@dataclass(frozen=True)
class Carried:
    """What a letter carries and what its template lists."""

    files: tuple[LetterFile, ...] = ()
    context: dict[str, Any] | None = None


def for_letter(conn: Connection, config: Config, complaint_id: int, reference: str, *,
               direction: str = IN, draft_version: int | None = None) -> Carried:
    """The files of `direction` (for `out`, of that draft version) a letter carries."""
    rows = [r for r in attachment_rows.files_of(conn, complaint_id)
            if r.direction == direction
            and (direction == IN or r.draft_version == draft_version)]
    blobs = attachment_rows.contents(conn, [r.sha256 for r in rows if r.sha256])
    stored = [StoredFile(r.n, r.name, r.content_type, r.size,
                         blobs.get(r.sha256) if r.sha256 else None,
                         r.reason or "not kept", inline=r.inline,
                         content_id=f"file{r.n}.{reference}@triaged" if r.inline else "")
              for r in rows]
    chosen = plan(stored, config.attachments.forward_max)
    files = tuple(LetterFile(f.name, f.content_type, f.data or b"", inline=f.inline,
                             content_id=f.content_id) for f in chosen.attached)
    context = {
        "files": [{"n": f.n, "name": f.name, "size": human_size(f.size),
                   "inline": f.inline and f.content_type.startswith("image/"),
                   "cid": f.content_id} for f in chosen.attached],
        "withheld": [{"n": f.n, "name": f.name, "size": human_size(f.size), "why": f.why,
                      "command": f"triaged attachment {reference} {f.n}"}
                     for f in chosen.listed[:LISTED_IN_LETTER]],
        "withheld_more": max(0, len(chosen.listed) - LISTED_IN_LETTER),
        "show_command": f"triaged show {reference}",
    }
    return Carried(files, context)


def history(conn: Connection, complaint_id: int,
            when: Callable[[datetime], str]) -> dict[str, Any]:
    """The customer's complaints of the last 12 months before this one, for a template."""
    count, shown = attachment_rows.earlier_complaints(conn, complaint_id)
    return {"earlier_count": count,
            "earlier": [{"reference": e.reference, "state": e.state.replace("_", " "),
                         "received": when(e.received_at)} for e in shown]}


def staff_files(files: Sequence[Attachment]) -> list[NewFile]:
    """Files a staff member attached to their resolution reply (not their signature's
    inline images): they go to the customer with the final letter."""
    chosen = [f for f in files if not f.inline and not f.embedded
              and f.content_type != "message/rfc822"]
    return from_mail(chosen)


def record_out(conn: Connection, complaint_id: int, files: Sequence[NewFile], *,
               message_row_id: int | None, draft_version: int, now: datetime) -> None:
    attachment_rows.add_files(conn, complaint_id, files, direction=OUT,
                              message_row_id=message_row_id, now=now,
                              draft_version=draft_version)
