"""What a test's engine sends to the database: on PostgreSQL each statement is a round trip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event


def statements_sent(engine: Engine) -> list[str]:
    """A list that collects every statement `engine` sends from now on."""
    sent: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    return sent
