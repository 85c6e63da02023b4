"""The approval key check: 256 bits of key material by the alphabet the key is written in."""

from __future__ import annotations

import base64
import secrets

import pytest

from triaged.replies.key_strength import estimated_bits, weakness


@pytest.mark.parametrize(
    ("key", "bits"),
    [
        (secrets.token_hex(32), 256),  # openssl rand -hex 32
        (secrets.token_hex(16), 128),
        (base64.b64encode(secrets.token_bytes(32)).decode(), 258),  # head -c 32 ... | base64
        (secrets.token_urlsafe(32), 258),  # what `triaged demo` writes
        ("correct horse battery staple", 224),  # a passphrase: 8 bits a byte at most
        ("пароль", 96),  # UTF-8 bytes, not characters
    ],
)
def test_bits_are_estimated_from_the_alphabet(key: str, bits: int) -> None:
    assert estimated_bits(key) == bits


@pytest.mark.parametrize(
    "key",
    [secrets.token_hex(32), secrets.token_urlsafe(32),
     base64.b64encode(secrets.token_bytes(32)).decode(), secrets.token_hex(32).upper() + "\n"],
)
def test_keys_made_the_documented_ways_are_strong_enough(key: str) -> None:
    assert weakness(key) is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (secrets.token_hex(31), "at most 248 bits, 256 are needed (62 characters)"),
        ("hunter2", "only 7 different characters"),
        ("01" * 64, "only 2 different characters"),  # 128 hex digits, but not random
        ("correct horse battery staple", "at most 224 bits"),
    ],
)
def test_weak_keys_say_why_and_how_to_make_a_good_one(key: str, reason: str) -> None:
    problem = weakness(key)
    assert problem is not None
    assert reason in problem
    assert "openssl rand -hex 32" in problem
    assert key not in problem
