"""One line of a complaint's event log, as the use cases record it.

An `Event` is a value: who did what to which complaint, when, and the details
staff and the audit trail read (`detail`, stored as JSON). Use cases record
events on a `triaged.store.journal.Journal`, which writes them with the rest
of their transaction; nothing else writes the event log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from triaged.domain.records import EventKind


@dataclass(frozen=True)
class Event:
    """An event as it will be stored. `detail` is copied: editing the caller's
    dict afterwards does not change what was recorded."""

    complaint_id: int | None
    kind: EventKind
    at: datetime
    actor: str
    message_row_id: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))
