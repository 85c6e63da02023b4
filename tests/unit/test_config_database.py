"""`[database] url`: what an operator may write for PostgreSQL, and the mistakes reported."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.config_values import MINIMAL, problems_of, with_values
from triaged.config.loading import from_mapping


def _url(url: str) -> str:
    return from_mapping(with_values(MINIMAL, database__url=url), Path("/etc/triaged")).database.url


def test_a_psycopg_url_is_kept_as_written() -> None:
    url = "postgresql+psycopg://triaged:s3cret@db.acme.example:5433/triaged"
    assert _url(url) == url


def test_a_bare_postgresql_url_means_psycopg() -> None:
    # SQLAlchemy would look for psycopg2 behind postgresql://, which is not installed.
    assert _url("postgresql://triaged:s3cret@db.acme.example/triaged") == (
        "postgresql+psycopg://triaged:s3cret@db.acme.example/triaged"
    )


@pytest.mark.parametrize("driver", ["psycopg2", "asyncpg", "pg8000"])
def test_another_postgresql_driver_is_a_problem_naming_the_one_to_use(driver: str) -> None:
    problems = problems_of(with_values(MINIMAL, database__url=f"postgresql+{driver}://db/t"))
    assert problems == [
        f"database.url: the PostgreSQL driver must be psycopg (postgresql+psycopg://…), "
        f"not {driver!r}"
    ]


def test_postgresql_without_psycopg_installed_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # None in sys.modules is how Python spells "this module cannot be imported".
    monkeypatch.setitem(sys.modules, "psycopg", None)
    problems = problems_of(with_values(MINIMAL, database__url="postgresql+psycopg://db/t"))
    assert problems == [
        "database.url: PostgreSQL needs the psycopg package: pip install 'triaged[postgresql]'"
    ]
    # SQLite needs nothing more.
    assert _url("sqlite:////var/lib/triaged/t.db") == "sqlite:////var/lib/triaged/t.db"
