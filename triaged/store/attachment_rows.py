"""A complaint's files and their contents, and the customer's earlier complaints.

A file's bytes are stored once per SHA-256 (`blob`); each file of a complaint
is an `attachment` row numbered `n` = 1, 2, … within the complaint. Statements
run on the caller's connection, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select

from triaged.domain.mailbox_key import mailbox_key
from triaged.store.models import metadata

_blob = metadata.tables["blob"]
_attachment = metadata.tables["attachment"]
_complaint = metadata.tables["complaint"]

IN, OUT = "in", "out"


@dataclass(frozen=True)
class NewFile:
    """A file to record: `data` None when it is not kept (`reason` says why)."""

    name: str
    content_type: str
    size: int
    data: bytes | None
    sha256: str = ""
    reason: str = ""
    inline: bool = False
    content_id: str = ""


@dataclass(frozen=True)
class FileRow:
    n: int
    name: str
    content_type: str
    size: int
    sha256: str | None
    direction: str
    reason: str
    inline: bool
    content_id: str
    draft_version: int | None
    message_row_id: int | None


def _keep_blob(conn: Connection, sha256: str, data: bytes) -> None:
    found = conn.execute(select(_blob.c.sha256).where(_blob.c.sha256 == sha256)).first()
    if found is None:
        conn.execute(insert(_blob).values(sha256=sha256, size=len(data), data=data))


def add_files(conn: Connection, complaint_id: int, files: Sequence[NewFile], *,
              direction: str, message_row_id: int | None, now: datetime,
              draft_version: int | None = None) -> list[int]:
    """Record `files` after the complaint's last one; their numbers `n`."""
    if not files:
        return []
    last = conn.execute(select(func.max(_attachment.c.n))
                        .where(_attachment.c.complaint_id == complaint_id)).scalar()
    numbers: list[int] = []
    rows = []
    for offset, file in enumerate(files, start=1):
        if file.data is not None:
            _keep_blob(conn, file.sha256, file.data)
        n = int(last or 0) + offset
        numbers.append(n)
        rows.append({"complaint_id": complaint_id, "message_row_id": message_row_id, "n": n,
                     "name": file.name, "content_type": file.content_type, "size": file.size,
                     "sha256": file.sha256 if file.data is not None else None,
                     "direction": direction, "draft_version": draft_version,
                     "inline": file.inline, "content_id": file.content_id,
                     "reason": file.reason, "created_at": now})
    conn.execute(insert(_attachment), rows)
    return numbers


def _row(found: object) -> FileRow:
    m = found._mapping  # type: ignore[attr-defined]
    return FileRow(n=m["n"], name=m["name"], content_type=m["content_type"], size=m["size"],
                   sha256=m["sha256"], direction=m["direction"], reason=m["reason"],
                   inline=bool(m["inline"]), content_id=m["content_id"],
                   draft_version=m["draft_version"], message_row_id=m["message_row_id"])


def files_of(conn: Connection, complaint_id: int) -> list[FileRow]:
    """Every file of the complaint, in order."""
    query = (select(_attachment).where(_attachment.c.complaint_id == complaint_id)
             .order_by(_attachment.c.n))
    return [_row(found) for found in conn.execute(query)]


def content(conn: Connection, sha256: str) -> bytes | None:
    found = conn.execute(select(_blob.c.data).where(_blob.c.sha256 == sha256)).first()
    return bytes(found[0]) if found is not None else None


def contents(conn: Connection, hashes: Sequence[str]) -> dict[str, bytes]:
    if not hashes:
        return {}
    query = select(_blob.c.sha256, _blob.c.data).where(_blob.c.sha256.in_(set(hashes)))
    return {sha: bytes(data) for sha, data in conn.execute(query)}


@dataclass(frozen=True)
class Earlier:
    reference: str
    state: str
    received_at: datetime


HISTORY_SPAN = timedelta(days=365)
HISTORY_SHOWN = 10


def earlier_complaints(conn: Connection, complaint_id: int) -> tuple[int, list[Earlier]]:
    """How many complaints the same customer (by mailbox key) opened in the 12 months
    before this one, and the latest `HISTORY_SHOWN` of them."""
    this = conn.execute(select(_complaint.c.customer_email, _complaint.c.received_at)
                        .where(_complaint.c.id == complaint_id)).first()
    if this is None:
        return 0, []
    key = mailbox_key(this.customer_email)
    since = this.received_at - HISTORY_SPAN
    where = ((_complaint.c.customer_key == key) & (_complaint.c.id != complaint_id)
             & (_complaint.c.received_at >= since)
             & (_complaint.c.received_at <= this.received_at))
    count = conn.execute(select(func.count()).select_from(_complaint).where(where)).scalar()
    query = (select(_complaint.c.reference, _complaint.c.state, _complaint.c.received_at)
             .where(where).order_by(_complaint.c.received_at.desc(), _complaint.c.id.desc())
             .limit(HISTORY_SHOWN))
    shown = [Earlier(r.reference, r.state, r.received_at) for r in conn.execute(query)]
    return int(count or 0), shown
