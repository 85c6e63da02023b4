"""Shared pytest fixtures. One section per resource; add new resources as new sections.

Mail: one private Dovecot + SMTP relay per test session (``mailstack``), and a fresh
mailbox user per test (``new_address``, ``support_address``) so that tests never see
each other's mail. Dovecot is not optional: when it is missing the tests fail with the
command that installs it (``bash scripts/test.sh`` runs that command itself).

Installation: ``make_triaged(**config_extras)`` and ``triaged``, a triaged instance wired to
the session's mail stack with a frozen clock (tests/support/installation.py).

Approval shop: ``make_shop(approval="")`` and ``shop``, an installation with staff, managers
and email approval (tests/support/approval.py).

Logging: ``root_logging`` leaves the root logger as the test found it.

Database: ``db_url`` runs a test once on SQLite and once on PostgreSQL (a fresh, migrated
database each time) from one private PostgreSQL server per session (``postgres``). Those
tests skip, saying why, only on a machine without PostgreSQL's server binaries at all;
``scripts/install-system-deps.sh`` installs them, so on CI they run.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.mailstack import MailStack
from tests.pgserver import PostgresServer, find_binaries
from tests.support.approval import SECRET, MakeShop, Shop, people
from tests.support.fixture_types import MakeTriaged, NewAddress
from tests.support.installation import Triaged, config_text
from triaged import logs
from triaged.store.db import make_engine, migrate

# ---- mail server ---------------------------------------------------------------------

_user_numbers = itertools.count(1)


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


# ---- installation --------------------------------------------------------------------


@pytest.fixture
def make_triaged(
    mailstack: MailStack, support_address: str, tmp_path: Path
) -> Iterator[MakeTriaged]:
    made: list[Triaged] = []

    def make(**extra: str) -> Triaged:
        secret = tmp_path / "imap.pass"
        secret.write_text(mailstack.password(support_address) + "\n")
        path = tmp_path / f"config-{len(made)}.toml"
        path.write_text(config_text(mailstack, support_address, tmp_path / "triaged.db", secret,
                                    **extra))
        instance = Triaged(mailstack, support_address, path)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.close()


@pytest.fixture
def triaged(make_triaged: MakeTriaged) -> Triaged:
    return make_triaged()


# ---- approval shop -------------------------------------------------------------------


@pytest.fixture
def make_shop(make_triaged: MakeTriaged, new_address: NewAddress,
              mailstack: MailStack, tmp_path: Path) -> MakeShop:
    """``make_shop(approval="")``: a shop with staff, managers and email approval; Maria
    is its customer. `approval` is added to the [approval] table."""
    def make(approval: str = "") -> Shop:
        key = tmp_path / "approval.key"
        key.write_text(SECRET + "\n")
        staff, dana, erin, boss = (new_address(p) for p in ("team", "dana", "erin", "boss"))
        t = make_triaged(tail=people(staff, dana, erin, boss, key, approval))
        t.cycle()  # first contact with the empty mailbox
        return Shop(t, mailstack, staff, dana, erin, boss, new_address("maria"))
    return make


@pytest.fixture
def shop(make_shop: MakeShop) -> Shop:
    return make_shop()


# ---- logging -------------------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Leave the root logger as the test found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logs.redactor.replace(())


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
