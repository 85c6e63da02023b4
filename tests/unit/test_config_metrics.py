"""[metrics]: where /metrics and /health listen, and when the service counts as stalled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.config_values import MINIMAL, problems_of, with_values
from triaged.config.loading import from_mapping


def test_metrics_are_off_by_default_and_stalls_follow_the_poll_interval() -> None:
    config = from_mapping(MINIMAL, Path("/nonexistent"))
    assert config.metrics.enabled is False
    # max(3 x poll_interval, 5 minutes): the default 60 s poll gives 5 minutes...
    assert config.metrics.poll_stall(config.mailboxes[0].poll_interval) == timedelta(minutes=5)
    # ...and a 10-minute poll gives 30.
    assert config.metrics.poll_stall(timedelta(minutes=10)) == timedelta(minutes=30)
    assert config.metrics.send_stall_after == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:9464", "127.0.0.1", 9464),
        ("[::1]:9464", "::1", 9464),
        ("localhost:9100", "localhost", 9100),
        ("127.0.0.2:1", "127.0.0.2", 1),
        ("", "", 0),
    ],
)
def test_a_loopback_listen_address_is_read(listen: str, host: str, port: int) -> None:
    config = from_mapping(with_values(MINIMAL, metrics__listen=listen), Path("/nonexistent"))
    assert (config.metrics.host, config.metrics.port) == (host, port)
    assert config.metrics.enabled is bool(host)


def test_a_public_address_needs_allow_remote() -> None:
    data = with_values(MINIMAL, metrics__listen="0.0.0.0:9464", metrics__allow_remote=True)
    config = from_mapping(data, Path("/nonexistent"))
    assert (config.metrics.host, config.metrics.allow_remote) == ("0.0.0.0", True)


def test_an_empty_stall_after_means_the_per_mailbox_default() -> None:
    config = from_mapping(with_values(MINIMAL, metrics__stall_after=""), Path("/nonexistent"))
    assert config.metrics.stall_after is None
    assert config.metrics.poll_stall(timedelta(minutes=10)) == timedelta(minutes=30)


def test_the_stall_keys_are_read() -> None:
    data = with_values(MINIMAL, metrics__stall_after="90s", metrics__send_stall_after="1 hour")
    config = from_mapping(data, Path("/nonexistent"))
    assert config.metrics.poll_stall(timedelta(minutes=10)) == timedelta(seconds=90)
    assert config.metrics.send_stall_after == timedelta(hours=1)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"metrics__listen": "0.0.0.0:9464"},
         "metrics.listen: 0.0.0.0 is not a loopback address"),
        ({"metrics__listen": "[2001:db8::1]:9464"},
         "metrics.listen: 2001:db8::1 is not a loopback address"),
        ({"metrics__listen": "metrics.acme.example:9464"},
         "metrics.listen: expected an IP address or localhost"),
        ({"metrics__listen": "127.0.0.1"}, "metrics.listen: expected HOST:PORT"),
        ({"metrics__listen": "127.0.0.1:99999"}, "metrics.listen: expected a port between"),
        ({"metrics__listen": 9464}, "metrics.listen: expected a string"),
        ({"metrics__allow_remote": "yes"}, "metrics.allow_remote: expected true or false"),
        ({"metrics__stall_after": "0s"}, "metrics.stall_after: expected a duration longer"),
        ({"metrics__send_stall_after": "2 business days"},
         "metrics.send_stall_after: expected a calendar duration"),
        ({"metrics__listne": "127.0.0.1:9464"}, "unknown key 'metrics.listne'"),
    ],
)
def test_bad_values_are_problems_with_their_key(changes: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in problems_of(with_values(MINIMAL, **changes)))


def test_every_metrics_problem_is_reported_at_once() -> None:
    data = with_values(MINIMAL, metrics__listen="10.0.0.1:9464", metrics__stall_after="never",
                       metrics__send_stall_after="0 minutes")
    found = [p for p in problems_of(data) if p.startswith("metrics.")]
    assert [p.split(":")[0] for p in found] == [
        "metrics.listen", "metrics.stall_after", "metrics.send_stall_after"]


def test_the_example_config_documents_the_keys() -> None:
    example = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    for key in ("[metrics]", "listen =", "allow_remote =", "stall_after =",
                "send_stall_after ="):
        assert key in example
