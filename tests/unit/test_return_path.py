"""return_path: a per-letter envelope sender only we can make, and reading it back."""

from __future__ import annotations

from triaged.core.return_path import cited_letters, return_address, return_key

KEY = return_key("a secret of the installation")
OURS = ["support@acme.example"]


def test_a_letters_return_address_cites_that_letter_in_any_header_and_case() -> None:
    address = return_address("support@acme.example", 4711, KEY)

    assert address.startswith("support+b-")
    assert address.endswith("@acme.example")
    assert len(address.partition("@")[0]) <= 64
    assert cited_letters([address], OURS, KEY) == [4711]
    assert cited_letters([f"Bounces <{address.upper()}>"], OURS, KEY) == [4711]


def test_a_changed_id_a_made_up_mac_another_key_or_mailbox_cites_nothing() -> None:
    address = return_address("support@acme.example", 4711, KEY)
    local, _, domain = address.partition("@")
    prefix, number, mac = local.split("-")
    other_id = f"{prefix}-{int(number, 36) + 1:x}-{mac}@{domain}"
    made_up = f"{prefix}-{number}-{'a' * len(mac)}@{domain}"
    elsewhere = address.replace("@acme.example", "@evil.example")

    assert cited_letters([other_id, made_up, elsewhere], OURS, KEY) == []
    assert cited_letters([address], OURS, return_key("another installation")) == []
    assert cited_letters([address], OURS, None) == []


def test_the_key_is_not_the_secret_itself() -> None:
    assert KEY != b"a secret of the installation"
    assert return_key("a secret of the installation") == KEY
