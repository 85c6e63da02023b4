"""The database URL: checked, SQLite paths made absolute, passwords kept out of sight."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

BACKENDS = ("sqlite", "postgresql")


def database_url(url: str, base_dir: Path) -> str:
    """A usable SQLAlchemy URL for SQLite or PostgreSQL.

    A relative SQLite path ("sqlite:///triaged.db") is resolved against
    `base_dir`, the config file's folder, not the daemon's working directory.
    PostgreSQL is reached through psycopg 3: `postgresql://` means
    `postgresql+psycopg://`, another driver is refused, and so is a missing psycopg.
    Messages never quote the URL, which may carry a password.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a database URL; expected sqlite:////PATH or postgresql+psycopg://HOST/NAME"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in BACKENDS:
        raise ValueError(f"expected a sqlite or postgresql URL, got a {backend!r} URL")
    if backend == "postgresql":
        return _postgresql_url(url, parsed)
    database = parsed.database or ""
    relative = database and not _in_memory(database) and not Path(database).is_absolute()
    if backend == "sqlite" and relative:
        parsed = parsed.set(database=str(base_dir / database))
        return parsed.render_as_string(hide_password=False)
    return url


def _postgresql_url(url: str, parsed: URL) -> str:
    # A bare postgresql:// would make SQLAlchemy look for psycopg2, which triaged
    # does not install; psycopg (3) is the driver it is tested with.
    driver = parsed.get_driver_name()
    if parsed.drivername != "postgresql" and driver != "psycopg":
        raise ValueError(f"the PostgreSQL driver must be psycopg (postgresql+psycopg://…), "
                         f"not {driver!r}")
    if importlib.util.find_spec("psycopg") is None:
        raise ValueError("PostgreSQL needs the psycopg package: "
                         "pip install 'triaged[postgresql]'")
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _in_memory(database: str) -> bool:
    return database == ":memory:" or database.startswith("file::memory:")
