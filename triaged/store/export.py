"""Export every table to JSON lines and load such a file into an empty database.

The file is the whole state of an installation, in a form that outlives the
database engine and the schema version it was written from:

    {"type": "header", "format": "triaged-export", "version": 1, "schema": "0004_…"}
    {"type": "complaint", "row": {"id": 1, "reference": "K7M-Q3XY", …}}
    {"type": "message", "row": {"id": 1, "raw": "<base64>", …}}
    …
    {"type": "end", "rows": {"complaint": 1, "message": 1, …}}

`type` is the table's name; rows come table by table in foreign-key order,
each table in primary-key order, so exporting the same data twice gives the
same bytes. Timestamps are ISO 8601 in UTC, bytes (raw mail, letters) base64.
The `end` line lets an import tell a complete file from a truncated one.

Both directions stream: export reads with a server-side cursor where the
database has one and writes a line per row; import inserts in batches, so
memory does not grow with the size of the database.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    Table,
    func,
    inspect,
    select,
)
from sqlalchemy.sql import table as named_table
from sqlalchemy.types import DateTime

from triaged.domain.errors import ExportError
from triaged.store.db import (
    SchemaStatus,
    head_revision,
    known_revisions,
    move_schema,
    newer_than_code,
    schema_change,
    schema_status,
)

FORMAT = "triaged-export"
VERSION = 1
BATCH = 500


@dataclass(frozen=True)
class Summary:
    """What an export wrote or an import loaded: the schema revision and rows per table."""

    schema: str
    rows: dict[str, int]


Scrub = Callable[[str, dict[str, Any]], dict[str, Any]]


def export_rows(engine: Engine, out: IO[str], *, scrub: Scrub | None = None) -> Summary:
    """Write the whole database to `out` as JSON lines; returns what was written.

    `scrub(table, row)`, when given, returns each row as it is to be written
    (the CLI blanks reply tokens with it).

    The tables are read as they are, at whatever revision this code knows, so
    a database can be exported before an upgrade as well as after one.
    Everything is read in one transaction, so an export taken while the
    daemon works is one consistent moment: a snapshot under SQLite's WAL,
    REPEATABLE READ on PostgreSQL.
    """
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            schema = _exportable_revision(conn)
            _write(out, {"type": "header", "format": FORMAT, "version": VERSION,
                         "schema": schema})
            for table in _reflect(conn).sorted_tables:
                if table.name == "alembic_version":
                    continue
                counts[table.name] = 0
                ordered = select(table).order_by(*table.primary_key.columns)
                result = conn.execution_options(yield_per=BATCH).execute(ordered)
                for row in result.mappings():
                    values = dict(row)
                    if scrub is not None:
                        values = scrub(table.name, values)
                    out.write(_row_line(table.name, values))
                    counts[table.name] += 1
    _write(out, {"type": "end", "rows": counts})
    return Summary(schema, counts)


def _exportable_revision(conn: Connection) -> str:
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        raise ExportError("the database has no schema yet: there is nothing to export")
    if current not in known_revisions():
        raise ExportError(newer_than_code(SchemaStatus(current, head_revision(), False, ())))
    return current


def _write(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


def _row_line(kind: str, row: dict[str, Any]) -> str:
    # Columns sorted by name: the same data gives the same bytes whatever order
    # the columns have on disk (a table rebuilt by a migration may differ).
    values = {name: _encode(value) for name, value in row.items()}
    encoded = json.dumps(values, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return f'{{"type":{json.dumps(kind)},"row":{encoded}}}\n'


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        # Read through reflected columns, SQLite gives back the naive UTC that
        # UTCDateTime stored there.
        instant = value if value.tzinfo else value.replace(tzinfo=UTC)
        return instant.astimezone(UTC).isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


# ---- import --------------------------------------------------------------------------


def import_rows(engine: Engine, lines: Iterable[str]) -> Summary:
    """Load an export into an empty database, in one transaction; returns what was loaded.

    Steps: 1. read the header and refuse a file that is not an export or was
    written by a newer triaged; 2. refuse a database that holds any row;
    3. bring the schema to the export's revision; 4. insert the rows table by
    table in batches; 5. on PostgreSQL, move each id sequence past the
    highest id; 6. upgrade the schema to the newest revision (an old export's
    rows go through the same data migrations a live database would); 7. check
    every table's count against the `end` line. Any failure rolls everything
    back, leaving the database as empty as it was.
    """
    numbered = enumerate(lines, start=1)
    header = _header(next(numbered, (1, "")))
    schema = header["schema"]
    status = schema_status(engine)
    if status.ahead:
        raise ExportError(newer_than_code(status))
    with schema_change(engine) as conn:
        _refuse_rows(conn)
        move_schema(conn, schema)
        tables = _reflect(conn)
        loaded, expected = _load(conn, tables, numbered)
        if conn.dialect.name == "postgresql":
            _advance_sequences(conn, tables, loaded)
        move_schema(conn, "head")
        if expected != loaded:
            raise ExportError(f"the file's end line counts {expected} rows, but {loaded} "
                              "were read: the file is damaged; nothing was imported")
    return Summary(head_revision(), loaded)


def _header(first: tuple[int, str]) -> dict[str, Any]:
    record = _parse(*first)
    if record.get("type") != "header" or record.get("format") != FORMAT:
        raise ExportError("line 1 is not a triaged export header; is this a file written "
                          "by `triaged export`?")
    if record.get("version") != VERSION:
        raise ExportError(f"export format version {record.get('version')!r} is not "
                          f"{VERSION}: it was written by a newer triaged")
    schema = record.get("schema")
    if schema not in known_revisions():
        raise ExportError(f"the export's schema {schema!r} is unknown to this version of "
                          f"triaged (newest {head_revision()}): import it with a newer triaged")
    return record


def _reflect(conn: Connection) -> MetaData:
    """The tables as they are in the database now, at the export's revision."""
    tables = MetaData()
    with warnings.catch_warnings():
        # SQLite cannot reflect the expression index on outbox_letter; only
        # the columns' types are needed here.
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        tables.reflect(conn)
    return tables


def _refuse_rows(conn: Connection) -> None:
    for name in sorted(inspect(conn).get_table_names()):
        if name == "alembic_version":
            continue
        if conn.execute(select(func.count()).select_from(named_table(name))).scalar_one():
            raise ExportError(f"the database is not empty (table {name} has rows): "
                              "import only into a new database")


def _load(
    conn: Connection, tables: MetaData, numbered: Iterator[tuple[int, str]]
) -> tuple[dict[str, int], dict[str, int]]:
    loaded: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    table: Table | None = None
    for number, line in numbered:
        record = _parse(number, line)
        kind = record.get("type")
        if table is not None and kind != table.name:
            _flush(conn, table, batch)
        if kind == "end":
            rows = record.get("rows")
            if not isinstance(rows, dict):
                raise ExportError(f"line {number}: the end line has no row counts")
            return loaded, {name: count for name, count in rows.items() if count}
        if table is None or kind != table.name:
            table = _table(tables, kind, number)
        row = record.get("row")
        if not isinstance(row, dict):
            raise ExportError(f"line {number}: a {kind} line without its row")
        batch.append(_decode_row(table, row, number))
        loaded[table.name] = loaded.get(table.name, 0) + 1
        if len(batch) >= BATCH:
            _flush(conn, table, batch)
    raise ExportError("the file ends before its end line: it is truncated; nothing was imported")


def _table(tables: MetaData, kind: Any, number: int) -> Table:
    if not isinstance(kind, str) or kind not in tables.tables or kind == "alembic_version":
        raise ExportError(f"line {number}: unknown line type {kind!r}")
    return tables.tables[kind]


def _flush(conn: Connection, table: Table, batch: list[dict[str, Any]]) -> None:
    if batch:
        conn.execute(table.insert(), batch)
        batch.clear()


def _parse(number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError:
        raise ExportError(f"line {number}: not JSON") from None
    if not isinstance(record, dict):
        raise ExportError(f"line {number}: expected a JSON object")
    return record


def _decode_row(table: Table, row: dict[str, Any], number: int) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for name, value in row.items():
        column = table.columns.get(name)
        if column is None:
            raise ExportError(f"line {number}: table {table.name} has no column {name!r}")
        decoded[name] = _decode(column.type, value, f"line {number}: {table.name}.{name}")
    return decoded


def _decode(kind: Any, value: Any, where: str) -> Any:
    if value is None:
        return None
    try:
        if isinstance(kind, LargeBinary):
            return base64.b64decode(value, validate=True)
        if isinstance(kind, DateTime):
            instant = datetime.fromisoformat(value)
            if instant.tzinfo is None:
                raise ValueError("no time zone")
            # The reflected column is a plain DateTime: store what UTCDateTime
            # stores, naive UTC text on SQLite and an aware instant elsewhere.
            instant = instant.astimezone(UTC)
            return instant if kind.timezone else instant.replace(tzinfo=None)
    except (TypeError, ValueError) as error:
        raise ExportError(f"{where}: {error}") from None
    return value


def _advance_sequences(conn: Connection, tables: MetaData, loaded: dict[str, int]) -> None:
    # Rows were inserted with their ids; without this the next insert would
    # take id 1 from the sequence and collide.
    for name in loaded:
        table = tables.tables[name]
        if "id" not in table.columns:
            continue
        following = select(func.coalesce(func.max(table.c.id), 0) + 1).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, "id")
        conn.execute(select(func.setval(sequence, following, False)))
