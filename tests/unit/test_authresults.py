"""Authentication-Results (RFC 8601): only the configured server's word counts."""

from __future__ import annotations

import pytest

from triaged.replies.authresults import check

SERVER = "mx.acme.example"
SENDER = "dana@acme.example"


@pytest.mark.parametrize(
    ("headers", "passed"),
    [
        ([f"{SERVER}; dkim=pass header.d=acme.example header.s=sel"], True),
        ([f"{SERVER}; dkim=pass (2048-bit key) header.i=@acme.example"], True),
        ([f"{SERVER}; spf=fail smtp.mailfrom=x; dmarc=pass (p=reject) header.from=acme.example"],
         True),
        # Gmail's shape, on several lines with comments.
        ([f"{SERVER};\r\n       dkim=pass header.i=@acme.example header.s=20230601"
          " header.b=abc;\r\n       spf=pass (google.com: domain of x) smtp.mailfrom=x;"
          "\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=acme.example"], True),
        ([f"{SERVER.upper()}; DKIM=Pass header.d=ACME.example"], True),
        # A subdomain sender under the signing domain: DMARC's relaxed alignment.
        ([f"{SERVER}; dkim=pass header.d=acme.example"], True),
        ([f"{SERVER}; dkim=fail header.d=acme.example"], False),
        ([f"{SERVER}; dkim=pass header.d=evil.example"], False),
        ([f"{SERVER}; dkim=pass header.d=example"], False),
        ([f"{SERVER}; spf=pass smtp.mailfrom=acme.example"], False),  # SPF alone is not enough
        ([f"{SERVER}; dmarc=fail header.from=acme.example"], False),
        (["mx.evil.example; dkim=pass header.d=acme.example"], False),  # someone else's header
        ([], False),  # missing header = failure
        ([f"{SERVER} 1; none"], False),
    ],
)
def test_dkim_or_dmarc_pass_for_the_senders_domain_from_our_server(
    headers: list[str], passed: bool
) -> None:
    assert check(headers, SERVER, SENDER).passed is passed


def test_the_refusal_says_what_the_server_reported() -> None:
    verdict = check([f"{SERVER}; dkim=fail header.d=acme.example"], SERVER, SENDER)
    assert "dkim=fail" in verdict.reason
    assert "no Authentication-Results" in check([], SERVER, SENDER).reason


def test_a_forged_header_from_another_server_is_ignored_next_to_ours() -> None:
    headers = ["mx.evil.example; dkim=pass header.d=acme.example",
               f"{SERVER}; dkim=fail header.d=acme.example"]
    assert not check(headers, SERVER, SENDER).passed


def test_subdomain_senders_align_with_the_parent_signing_domain() -> None:
    assert check([f"{SERVER}; dkim=pass header.d=acme.example"], SERVER,
                 "dana@mail.acme.example").passed
    assert not check([f"{SERVER}; dkim=pass header.d=mail.acme.example"], SERVER,
                     "dana@acme.example").passed
