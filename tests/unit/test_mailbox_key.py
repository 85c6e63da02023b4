"""Addresses that reach one mailbox share one key."""

from __future__ import annotations

import pytest

from triaged.domain.mailbox_key import mailbox_key, same_mailbox


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("Victim@Example.TEST", "victim@example.test"),
        ("victim+0@example.test", "victim@example.test"),
        ("victim+a+b@example.test", "victim@example.test"),
        ("v.i.c.t.i.m@gmail.com", "victim@gmail.com"),
        ("V.ictim+x@GoogleMail.com", "victim@gmail.com"),
        # Elsewhere dots are part of the name: first.last@ and firstlast@ differ.
        ("first.last@example.test", "first.last@example.test"),
        # A local part that is only a detail stays as written.
        ("+only@example.test", "+only@example.test"),
    ],
)
def test_key_of_each_spelling(spelling: str, key: str) -> None:
    assert mailbox_key(spelling) == key


def test_configured_dotless_domain() -> None:
    assert same_mailbox("a.b@corp.test", "ab@corp.test", frozenset({"corp.test"}))
    assert not same_mailbox("a.b@corp.test", "ab@corp.test")
