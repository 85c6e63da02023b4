"""The one writer of the event log: a use case's events, written with its transaction.

A use case opens a `Journal` on its connection; its steps `record` the
`Event`s they cause, in the order they happen; the journal writes them all in
one statement (`flush`, or leaving the `with` block without an error), before
the commit. Events of a block that failed are never written: the transaction
they belonged to is rolled back too.

A batch written in one transaction without savepoints (intake) hands its
messages' journals one `Later`: their events wait there and go in one
statement for the whole batch, and earlier when a step is about to read the log.

A hot statement that must write its events with its own change in one round trip
(the sender's record of each letter, on PostgreSQL) takes them from `events_from`,
so the event log's INSERT still lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

from sqlalchemy import Connection, Insert, Selectable, insert
from sqlalchemy.exc import DBAPIError

from triaged.domain.events import Event
from triaged.store.models import metadata
from triaged.store.prepared import Prepared
from triaged.store.rows import encode_detail

_EVENT = metadata.tables["event"]
_INSERT_EVENT = Prepared(insert(_EVENT))
# The columns of an event row, in the order `events_from` expects them selected.
EVENT_COLUMNS = ("complaint_id", "message_row_id", "at", "kind", "actor", "detail")


def events_from(rows: Selectable) -> Insert:
    """The INSERT of the events `rows` selects (`EVENT_COLUMNS`, `detail` as
    `encode_detail` writes it), for a statement that writes them with its own change
    in one round trip (PostgreSQL: a data-modifying WITH)."""
    return insert(_EVENT).from_select(list(EVENT_COLUMNS), rows)


class Later:
    """Events of journals that ended without error, written together by `write`.

    Only for a transaction with no savepoint under these journals: a rolled-back
    savepoint would undo rows while their events still waited here.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []

    def write(self, conn: Connection) -> None:
        if self.events:
            _insert(conn, self.events)
            self.events.clear()


class Journal:
    """Events recorded on `conn`'s transaction, waiting to be written in one go.

    With `later`, what the block recorded is handed to it when the block ends,
    to be written with the batch's other events.
    """

    def __init__(self, conn: Connection, later: Later | None = None) -> None:
        self.conn = conn
        self._pending: list[Event] = []
        self._later = later

    def record(self, *events: Event | None) -> None:
        """Add `events` in order; None (a step that changed nothing) is skipped."""
        self._pending.extend(e for e in events if e is not None)

    def flush(self) -> None:
        """Write what was recorded (one executemany) and start afresh.

        Called once, before the commit; earlier only when a step reads the log
        it is writing.
        """
        self.write_earlier()
        if self._pending:
            _insert(self.conn, self._pending)
            self._pending.clear()

    def write_earlier(self) -> None:
        """Write the events still waiting in `later` (a step is about to read the log)."""
        if self._later is not None:
            self._later.write(self.conn)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is not None:
            return
        if self._later is None:
            self.flush()
        else:
            self._later.events.extend(self._pending)
            self._pending.clear()


# From this many events at once, PostgreSQL takes them by COPY: a batch's events (three
# per new complaint) went in three times faster than as one INSERT each. Fewer go
# as INSERTs, as a COPY costs two round trips however few its rows.
COPY_FROM = 20
_COPY_EVENTS = f"COPY event ({', '.join(EVENT_COLUMNS)}) FROM STDIN"


def _insert(conn: Connection, events: list[Event]) -> None:
    if len(events) < COPY_FROM or conn.dialect.name != "postgresql":
        _INSERT_EVENT.executemany(conn, [_row(e) for e in events])
        return
    import psycopg  # only installed with PostgreSQL

    # The time as an INSERT binds it (aware UTC; a naive one refused).
    moment: Callable[[Any], Any] = (_EVENT.c.at.type.bind_processor(conn.dialect)
                                    or (lambda value: value))
    dbapi = cast("psycopg.Connection[Any]", conn.connection.dbapi_connection)
    try:
        with dbapi.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
            for e in events:
                copy.write_row((e.complaint_id, e.message_row_id, moment(e.at), e.kind.value,
                                e.actor, encode_detail(e.detail)))
    except psycopg.Error as error:
        # As SQLAlchemy would have raised it (an IntegrityError, an OperationalError …).
        raise DBAPIError.instance(_COPY_EVENTS, None, error, psycopg.Error) from error


def _row(event: Event) -> dict[str, object]:
    return {
        "complaint_id": event.complaint_id,
        "message_row_id": event.message_row_id,
        "at": event.at,
        "kind": event.kind.value,
        "actor": event.actor,
        "detail": encode_detail(event.detail),
    }
