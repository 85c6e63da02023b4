"""Rows written straight into a migrated store, for the tests of what operators read from
it (health, metrics), and the two-mailbox config those tests judge against.

The fixture ``engine`` (tests/unit/conftest.py) is an empty migrated SQLite store."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from tests.support.config_values import MINIMAL, with_values
from triaged.config.loading import from_mapping
from triaged.config.records import Config
from triaged.store.db import write_transaction
from triaged.store.models import metadata

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
_ids = itertools.count(1)


def add(engine: Engine, table: str, **values: Any) -> int:
    with write_transaction(engine) as conn:
        key = conn.execute(insert(metadata.tables[table]), values).inserted_primary_key
        return int(key[0]) if key else 0


def complaint(engine: Engine, state: str, *, due: datetime, level: int = 0) -> int:
    n = next(_ids)
    return add(engine, "complaint", reference=f"R{n:05d}X", mailbox="support", state=state,
               customer_email=f"c{n}@example.test", received_at=NOW, due_at=due,
               escalation_level=level, created_at=NOW, updated_at=NOW)


def message(engine: Engine, outcome: str, rule: str) -> int:
    n = next(_ids)
    return add(engine, "message", mailbox="support", folder="INBOX", sha256=f"{n:064x}",
               outcome=outcome, rule=rule, received_at=NOW)


def event(engine: Engine, kind: str, detail: str = "{}") -> None:
    add(engine, "event", at=NOW, kind=kind, actor="system", detail=detail)


def letter(engine: Engine, state: str, queued: datetime) -> None:
    n = next(_ids)
    add(engine, "outbox_letter", kind="holding", to_email=f"c{n}@example.test",
        message_id=f"<l{n}@acme.example>", raw=b"x", state=state, next_attempt_at=queued,
        created_at=queued)


def config(**changes: Any) -> Config:
    two = [{"name": "support", "address": "support@acme.example", "host": "imap.acme.example",
            "poll_interval": "60s"},
           {"name": "sales", "address": "sales@acme.example", "host": "imap.acme.example",
            "poll_interval": "10 minutes"}]
    return from_mapping(with_values({**MINIMAL, "mailboxes": two}, **changes), Path("/"))
