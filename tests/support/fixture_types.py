"""The types of the shared fixtures (tests/conftest.py), for the tests' annotations."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.installation import Triaged

# new_address(prefix="cust", password="pw") -> a fresh mailbox address
NewAddress = Callable[..., str]
# make_triaged(**config_extras) -> a new installation on the session's mail stack
MakeTriaged = Callable[..., Triaged]
