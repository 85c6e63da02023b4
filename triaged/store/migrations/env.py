"""Alembic environment for triaged.

At runtime `triaged.store.db.migrate` passes an open connection through
`config.attributes["connection"]`. Developers writing a new revision can run
`alembic -x url=sqlite:///dev.db revision --autogenerate -m "..."` with a
scratch alembic.ini whose script_location is this folder.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from triaged.store.models import metadata
from triaged.store.ownership import advisory_key

config = context.config


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Instances starting together on one PostgreSQL would each create the
        # tables (PostgreSQL's DDL makes no one wait) and fail or deadlock: the
        # second waits here, then finds the schema at head. Released at commit.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                           {"key": advisory_key("triaged:migrate")})
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url / -x url=... set")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("triaged migrations run online only")
run_online()
