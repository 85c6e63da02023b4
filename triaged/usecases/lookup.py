"""The complaint a person names by its reference, or `UnknownReference` when none has it.

Console commands (`show`, `draft`, `approve`, `reject`) take a reference typed
by the operator; they check its form first (a mistyped symbol is caught by the
check character) and look it up here.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlmodel import Session

from triaged.domain.errors import UnknownReference
from triaged.store import approval_rows, queries
from triaged.store.approval_rows import ComplaintFacts
from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter

Detail = tuple[Complaint, list[MessageRow], list[OutboxLetter], list[Event]]


def complaint_detail(session: Session, reference: str) -> Detail:
    """The complaint with its messages, letters and events, each oldest first."""
    detail = queries.complaint_detail(session, reference)
    if detail is None:
        raise UnknownReference(reference)
    return detail


def complaint_facts(conn: Connection, reference: str) -> ComplaintFacts:
    """What the approval flow needs to know of the complaint."""
    complaint_id = approval_rows.complaint_id_by_reference(conn, reference)
    facts = approval_rows.complaint_facts(conn, complaint_id) if complaint_id else None
    if facts is None:
        raise UnknownReference(reference)
    return facts
