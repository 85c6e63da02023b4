"""Statements run once per message, compiled once and handed to the driver directly.

SQLAlchemy's `Connection.execute` does, for every execution, work that does not
change between executions of one statement: it computes the statement's cache
key (a walk of the whole statement), looks the compiled form up, builds the
parameters through the compiled form and sets up a result with its type
processing. For a wide insert run once per incoming message that costs several
times what SQLite spends on the insert itself. A `Prepared` statement does that
work once per dialect and then passes the SQL text and the parameters, converted
by their columns' own bind processors (so stored values are exactly what
`execute` would store), to `exec_driver_sql`: the same connection, transaction,
savepoints and events.

Rows come back as the driver gives them, without result processing: prepared
statements return ids and counts, or text columns, never values a column type
would convert on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, CursorResult, Insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # The parameters in the order the text binds them (positional drivers), or each
    # parameter's name in the text (named ones).
    order: tuple[str, ...]
    driver_names: dict[str, str]
    positional: bool
    constants: dict[str, Any]  # values written into the statement, as the driver takes them
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]


class Prepared:
    """`statement` compiled once per dialect (and, for an insert, per set of columns
    given); `execute(conn, params)` runs it as `conn.execute(statement, params)`
    would, minus the per-execution set-up."""

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def execute(self, conn: Connection,
                params: Mapping[str, Any]) -> CursorResult[*tuple[Any, ...]]:
        compiled = self._compiled_for(conn, params)
        return conn.exec_driver_sql(compiled.sql, _driver_values(compiled, params))

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once for each of `rows` (all with the same keys), in one call
        to the driver."""
        if not rows:
            return
        compiled = self._compiled_for(conn, rows[0])
        conn.exec_driver_sql(compiled.sql, [_driver_values(compiled, row) for row in rows])

    def _compiled_for(self, conn: Connection, params: Mapping[str, Any]) -> _Compiled:
        key = (conn.dialect.name, frozenset(params))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = _compile(self._statement, conn.dialect, key[1])
        return compiled


def _driver_values(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    values = compiled.constants | dict(params)
    for name, process in compiled.processors:
        values[name] = process(values[name])
    if compiled.positional:
        return tuple(values[n] for n in compiled.order)
    return {compiled.driver_names[n]: values[n] for n in compiled.order}


def _compile(statement: Executable, dialect: Dialect, keys: frozenset[str]) -> _Compiled:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=dialect, column_keys=sorted(keys))
    assert isinstance(compiled, SQLCompiler)
    if compiled.literal_execute_params:
        raise ValueError("a prepared statement binds plain values only")
    if compiled.positional:
        order = tuple(compiled.positiontup or ())
    else:
        order = tuple(dict.fromkeys(compiled.bind_names.values()))
    constants: dict[str, Any] = {}
    processors = []
    for name in dict.fromkeys(order):
        bind = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            raise ValueError(f"{name}: a prepared statement binds plain values only")
        if name not in keys:
            if bind.value is None and bind.required:
                raise ValueError(f"{name}: no value given")
            constants[name] = bind.value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((name, process))
    driver_names = {name: compiled.escaped_bind_names.get(name, name) for name in order}
    return _Compiled(compiled.string, order, driver_names, compiled.positional, constants,
                     tuple(processors))


class PreparedInsert:
    """An insert of one row, prepared, that gives the new row's id.

    SQLite tells the id of the row a statement just wrote, so there the insert is
    sent without RETURNING: no result set to describe for every row written.
    Elsewhere the id comes back by RETURNING.
    """

    def __init__(self, statement: Insert, key: ColumnElement[Any]) -> None:
        self._plain = Prepared(statement)
        self._returning = Prepared(statement.returning(key))

    def insert_id(self, conn: Connection, params: Mapping[str, Any]) -> int | None:
        """The id of the row written, or None when none was (a conflict the statement
        does nothing on)."""
        if conn.dialect.name == "sqlite":
            written = self._plain.execute(conn, params)
            return int(written.lastrowid) if written.rowcount == 1 else None
        found = self._returning.execute(conn, params).first()
        return None if found is None else int(found[0])
