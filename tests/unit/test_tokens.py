"""Reply tokens: bound to purpose, complaint, version, recipient and expiry; short and plain."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from triaged.replies.tokens import bound_recipient, make_token, parse_token, verify

SECRET = "s3cret-key-for-tests"
EXPIRY = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def token(**changes: object) -> str:
    fields: dict[str, object] = {"purpose": "approve", "complaint_id": 42, "version": 3,
                                 "recipient": "dana@acme.example", "expires_at": EXPIRY}
    fields.update(changes)
    return make_token(SECRET, **fields)  # type: ignore[arg-type]


def test_a_token_reads_back_its_fields_and_verifies_for_its_recipient_only() -> None:
    claim = parse_token(token())
    assert claim is not None
    assert (claim.purpose, claim.complaint_id, claim.version) == ("approve", 42, 3)
    assert claim.expires_at == EXPIRY
    assert verify(claim, SECRET, "dana@acme.example")
    assert verify(claim, SECRET, "DANA@acme.example")  # addresses compare case-insensitively
    assert not verify(claim, SECRET, "eve@acme.example")
    assert not verify(claim, "another secret", "dana@acme.example")
    assert bound_recipient(claim, SECRET, ["eve@acme.example", "dana@acme.example"]) == (
        "dana@acme.example")
    assert bound_recipient(claim, SECRET, ["eve@acme.example"]) is None


def test_a_token_fits_a_plus_address_and_is_plain_lower_case() -> None:
    text = token(complaint_id=10**9, version=999)
    assert re.fullmatch(r"[a-z0-9-]+", text)
    assert len("support+" + text) <= 64  # RFC 5321 local-part limit


def test_upper_case_copies_still_parse_and_verify() -> None:
    claim = parse_token(token().upper())
    assert claim is not None
    assert verify(claim, SECRET, "dana@acme.example")


@pytest.mark.parametrize("field", ["purpose", "complaint_id", "version", "expires_at", "mac"])
def test_changing_any_field_breaks_the_mac(field: str) -> None:
    claim = parse_token(token())
    assert claim is not None
    changed = {
        "purpose": replace(claim, purpose="escalation"),
        "complaint_id": replace(claim, complaint_id=43),
        "version": replace(claim, version=4),
        "expires_at": replace(claim, expires_at=datetime(2027, 1, 1, tzinfo=UTC)),
        "mac": replace(claim, mac=("b" if claim.mac[0] == "a" else "a") + claim.mac[1:]),
    }[field]
    assert not verify(changed, SECRET, "dana@acme.example")


def test_every_single_changed_character_is_refused() -> None:
    text = token()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i, char in enumerate(text):
        if char == "-":
            continue
        other = alphabet[(alphabet.find(char) + 1) % len(alphabet)] if char in alphabet else "a"
        claim = parse_token(text[:i] + other + text[i + 1:])
        assert claim is None or not verify(claim, SECRET, "dana@acme.example"), i


@pytest.mark.parametrize("text", ["", "approve", "approve-1-1-1-short", "APPROVE 1 1 1 x",
                                  "appr0ve-1-1-1-aaaaaaaaaaaaaaaaaaaa", "a-1-1-1-" + "1" * 20])
def test_what_is_not_shaped_like_a_token_is_not_one(text: str) -> None:
    assert parse_token(text) is None


def test_bad_purposes_and_empty_secrets_are_refused_when_making() -> None:
    with pytest.raises(ValueError, match="purpose"):
        token(purpose="Approve!")
    with pytest.raises(ValueError, match="secret"):
        make_token("", purpose="approve", complaint_id=1, version=1, recipient="a@b.example",
                   expires_at=EXPIRY)


def test_the_digest_is_stable_and_is_not_the_token() -> None:
    claim = parse_token(token())
    again = parse_token(token().upper())
    assert claim is not None
    assert again is not None
    assert claim.digest == again.digest
    assert claim.text not in claim.digest
