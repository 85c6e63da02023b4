"""Shared pytest fixtures. One section per resource; add new resources as new sections.

Mail: one private Dovecot + SMTP relay per test session (``mailstack``), and a fresh
mailbox user per test (``new_address``, ``support_address``) so that tests never see
each other's mail. Dovecot is not optional: when it is missing the tests fail with the
command that installs it (``bash scripts/test.sh`` runs that command itself).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.mailstack import MailStack

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
