"""Log lines: formats, the fields on lines about a complaint, secrets removed, [logging]."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.support.config_values import MINIMAL, problems_of, with_values
from tests.support.logfmt import parse_logfmt
from triaged import logs
from triaged.config.loading import from_mapping

PASSWORD = "c0rrect-Horse-battery"
TOKEN = "ya29.a0AfH6SMBx-oauth"

class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr on an operator's console does."""

    def isatty(self) -> bool:
        return True


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


# ---- formats ------------------------------------------------------------------------------


def test_a_json_line_carries_logger_level_msg_and_the_complaint_fields(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    stream = io.StringIO()
    assert logs.configure("json", "info", stream=stream) == "json"
    log = logging.getLogger("triaged.intake")

    log.info("daemon-wide line")
    with logs.about(message_id="<a1@customer.example>"):
        log.info("not a complaint: %s", "<a1@customer.example>")
        logs.tag(reference="K7M-Q3XY")
        log.info("registered %s", "K7M-Q3XY")
    log.warning("overdue", extra=logs.fields(reference="ABC-DEFG"))
    log.info("after the scope")

    first, unknown, registered, single, after = (json.loads(x) for x in lines_of(stream))
    assert set(first) == {"ts", "level", "logger", "msg"}
    assert first["level"] == "info"
    assert first["logger"] == "triaged.intake"
    assert first["msg"] == "daemon-wide line"
    assert (unknown["reference"], unknown["message_id"]) == (None, "<a1@customer.example>")
    assert (registered["reference"], registered["message_id"]) == \
        ("K7M-Q3XY", "<a1@customer.example>")
    assert (single["reference"], single["message_id"], single["level"]) == \
        ("ABC-DEFG", None, "warning")
    assert "reference" not in after


def test_logfmt_lines_parse_as_key_value_pairs_whatever_the_message_holds(
    root_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    stream = io.StringIO()
    logs.configure("logfmt", "info", stream=stream)
    awkward = 'quote " backslash \\ equals = tab \t newline \n 日本語'
    with logs.about(reference="K7M-Q3XY", message_id="<x y@z>"):
        logging.getLogger("triaged.sender").error("odd: %s", awkward)

    [line] = lines_of(stream)
    pairs = parse_logfmt(line)
    assert list(pairs) == ["ts", "level", "logger", "msg", "reference", "message_id"]
    assert pairs["msg"] == f"odd: {awkward}"
    assert pairs["level"] == "error"
    assert pairs["logger"] == "triaged.sender"
    assert (pairs["reference"], pairs["message_id"]) == ("K7M-Q3XY", "<x y@z>")


def test_a_traceback_stays_inside_its_one_json_line(root_logging: None) -> None:
    stream = io.StringIO()
    logs.configure("json", "info", stream=stream)
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("triaged.daemon").exception("job failed")

    [line] = lines_of(stream)
    parsed = json.loads(line)
    assert parsed["msg"] == "job failed"
    assert parsed["exc"].startswith("Traceback (most recent call last)")
    assert parsed["exc"].endswith("ValueError: broken")


@pytest.mark.parametrize(("stream", "journal", "expected", "stamped"), [
    (io.StringIO(), "", "json", True),       # a pipe or a file: machines read it
    (Terminal(), "", "logfmt", True),        # an operator's terminal
    (Terminal(), "8:1234", "json", False),   # journald: it stamps each line itself
    (io.StringIO(), "8:1234", "json", False),
])
def test_auto_picks_json_for_machines_and_logfmt_for_a_terminal(
    root_logging: None, monkeypatch: pytest.MonkeyPatch, stream: io.StringIO, journal: str,
    expected: str, stamped: bool,
) -> None:
    if journal:
        monkeypatch.setenv("JOURNAL_STREAM", journal)
    else:
        monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    assert logs.configure("auto", "info", stream=stream) == expected
    logging.getLogger("triaged.daemon").info("hello")
    [line] = lines_of(stream)
    fields = json.loads(line) if expected == "json" else parse_logfmt(line)
    assert ("ts" in fields) is stamped
    assert fields["msg"] == "hello"


def test_the_level_hides_what_is_below_it_and_a_reconfigure_replaces_the_handler(
    root_logging: None,
) -> None:
    stream = io.StringIO()
    logs.configure("text", "warning", stream=stream)
    logs.configure("text", "warning", stream=stream)  # a reload: still one line per event
    log = logging.getLogger("triaged.daemon")
    log.info("quiet")
    log.warning("loud")
    assert lines_of(stream) == ["WARNING triaged.daemon: loud"]


# ---- secrets ------------------------------------------------------------------------------


def test_configured_secrets_never_reach_the_output(root_logging: None) -> None:
    stream = io.StringIO()
    logs.configure("json", "debug", secrets=[PASSWORD, "key"], stream=stream)
    logs.add_secret(TOKEN)  # fetched at run time, as an OAuth2 token is
    log = logging.getLogger("triaged.ingest")

    log.error(f"login refused for {PASSWORD}")
    log.error("server said %s and %r", PASSWORD, {"token": TOKEN})
    with logs.about(reference=f"ref-{PASSWORD}"):
        log.info("in a scope")
    try:
        raise RuntimeError(f"AUTHENTICATE failed: {TOKEN}")
    except RuntimeError:
        log.exception("unexpected")
    log.info("monkey business")

    text = stream.getvalue()
    assert PASSWORD not in text
    assert TOKEN not in text
    lines = [json.loads(x) for x in lines_of(stream)]
    assert lines[0]["msg"] == "login refused for ***"
    assert lines[1]["msg"] == "server said *** and {'token': '***'}"
    assert lines[2]["reference"] == "ref-***"
    assert lines[3]["exc"].endswith("RuntimeError: AUTHENTICATE failed: ***")
    # Too short to be a secret worth garbling every line for.
    assert lines[4]["msg"] == "monkey business"


def test_the_config_lists_every_secret_it_holds(tmp_path: Path) -> None:
    (tmp_path / "imap.pass").write_text(PASSWORD + "\n")
    (tmp_path / "smtp.pass").write_text("smtp-secret-1\n")
    (tmp_path / "approval.key").write_text("approval-key-2\n")
    data = with_values(
        MINIMAL,
        mailboxes__0__password_file="imap.pass",
        smtp__password_file="smtp.pass",
        approval={"secret_file": "approval.key"},
        database={"url": "postgresql+psycopg://triaged:db-pass-3@db.example/triaged"},
    )
    config = from_mapping(data, tmp_path)
    assert sorted(config.secrets()) == sorted(
        [PASSWORD, "smtp-secret-1", "approval-key-2", "db-pass-3"])


# ---- [logging] ----------------------------------------------------------------------------


def test_logging_defaults_to_auto_and_info() -> None:
    config = from_mapping(MINIMAL, Path("/"))
    assert (config.logging.format, config.logging.level) == ("auto", "info")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"logging": {"format": "xml", "level": "loud"}}, [
        "logging.format: expected one of auto, json, logfmt, text, got 'xml'",
        "logging.level: expected one of debug, info, warning, error, got 'loud'",
    ]),
    ({"logging": {"format": 1}}, ["logging.format: expected a string, got 1"]),
    ({"logging": {"colour": "yes"}}, ["unknown key 'logging.colour'"]),
])
def test_logging_mistakes_are_reported_with_their_key_path(
    changes: dict[str, Any], expected: list[str]
) -> None:
    problems = problems_of(with_values(MINIMAL, **changes))
    assert [p.split(" (did you mean")[0] for p in problems] == expected
