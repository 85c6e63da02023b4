"""Shared pytest fixtures. One section per resource; add new resources as new sections.

Mail: one private Dovecot + SMTP relay per test session (``mailstack``), and a fresh
mailbox user per test (``new_address``, ``support_address``) so that tests never see
each other's mail. Dovecot is not optional: when it is missing the tests fail with the
command that installs it (``bash scripts/test.sh`` runs that command itself).

Database: ``db_url`` runs a test once on SQLite and once on PostgreSQL (a fresh, migrated
database each time) from one private PostgreSQL server per session (``postgres``). Those
tests skip, saying why, only on a machine without PostgreSQL's server binaries at all;
``scripts/install-system-deps.sh`` installs them, so on CI they run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.mailstack import MailStack
from tests.pgserver import PostgresServer, find_binaries
from triaged.store.db import make_engine, migrate

# ---- mail server ---------------------------------------------------------------------

_user_numbers = itertools.count(1)

NewAddress = Callable[..., str]


@pytest.fixture(scope="session")
def mailstack() -> Iterator[MailStack]:
    """The session's private mail stack (IMAP, LMTP and SMTP on loopback)."""
    with MailStack() as stack:
        yield stack


@pytest.fixture
def new_address(mailstack: MailStack) -> NewAddress:
    """``new_address(prefix="cust", password="pw") -> "cust-<n>@example.test"``: creates a
    mailbox user no other test uses."""

    def make(prefix: str = "cust", password: str = "pw") -> str:
        address = f"{prefix}-{next(_user_numbers)}@{mailstack.domain}"
        return mailstack.add_user(address, password)

    return make


@pytest.fixture
def support_address(new_address: NewAddress) -> str:
    """A fresh support mailbox for this test."""
    return new_address("support")


# ---- database ------------------------------------------------------------------------

_database_numbers = itertools.count(1)
# Migrated once per session; each test's database is a copy of it (CREATE DATABASE …
# TEMPLATE), which takes ~0.1 s instead of running every migration again.
_PG_TEMPLATE = "triaged_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's private PostgreSQL on loopback (tests/pgserver.py)."""
    if find_binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine; "
                    "`bash scripts/install-system-deps.sh` installs them")
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def _pg_template(postgres: PostgresServer) -> str:
    engine = make_engine(postgres.create_database(_PG_TEMPLATE))
    migrate(engine)
    # A template must have no open connections when it is copied.
    engine.dispose()
    return _PG_TEMPLATE


@pytest.fixture
def new_pg_database(postgres: PostgresServer, _pg_template: str) -> Callable[[], str]:
    """``new_pg_database() -> url``: a fresh PostgreSQL database at the newest revision."""

    def make() -> str:
        return postgres.create_database(f"t{next(_database_numbers)}", template=_pg_template)

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty database at the newest revision: SQLite, then PostgreSQL."""
    if request.param == "postgresql":
        make: Callable[[], str] = request.getfixturevalue("new_pg_database")
        return make()
    path = tmp_path_factory.mktemp("db") / "triaged.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return f"sqlite:///{path}"
