"""Property tests: hostile and mutated mail, and hostile configs, meet only documented errors.

A few hundred examples per run (seconds); `python -m tests.faults.fuzz --count 1000000`
is the long run of the same check on mutated mail.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.hostile import RULES, examine, fixtures, messages, mutated_fixture
from triaged.config.loading import from_mapping, load
from triaged.core.parse.html import html_to_text
from triaged.core.reading import read
from triaged.domain.errors import ConfigError
from triaged.usecases.reader import Reader

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
FEW = settings(max_examples=300, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example])


@FEW
@given(messages())
def test_every_hostile_message_is_read_and_judged_without_an_undocumented_error(
        data: bytes) -> None:
    assert examine(data) in {"complaint", "not_complaint", "quarantined"}


def test_every_fixture_of_the_project_is_read_and_judged() -> None:
    assert {examine(data) for data in fixtures()} <= {"complaint", "not_complaint",
                                                      "quarantined"}


@pytest.fixture(scope="module")
def reader() -> Iterator[Reader]:
    worker = Reader(RULES, budget=5.0)
    worker.start()
    yield worker
    worker.close()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=messages() | mutated_fixture())
def test_the_reading_worker_turns_every_input_into_an_outcome(reader: Reader,
                                                              data: bytes) -> None:
    reading = reader.read(data)
    assert (reading.mail is None) == bool(reading.refused)


def test_a_long_unfinished_tag_name_before_a_quote_reads_at_once() -> None:
    # Found by fuzzing: the tag name and its attributes both took letters, and a name
    # that never closed made every split of it be tried (minutes for 300 000 letters).
    markup = "<p>My cake arrived crushed.</p><meta" + "a" * 300_000 + '"'
    assert html_to_text(markup) == "My cake arrived crushed."


# ---- the config reader -------------------------------------------------------------------

def _example() -> dict[str, Any]:
    with EXAMPLE.open("rb") as file:
        return tomllib.load(file)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


PATHS = [p for p in _paths(_example()) if not str(p[-1]).endswith("_command")]
hostile_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    | st.sampled_from(["", "0s", "-1 days", "99999999999 business days", "25:00", "\x00",
                       "Mars/Olympus", "not@an@address", "@", "sqlite:///", "mon", "xx"])
    | st.dates() | st.datetimes() | st.times(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=8)


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any, delete: bool) -> None:
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


@FEW
@given(st.lists(st.tuples(st.sampled_from(PATHS), hostile_values, st.booleans()),
                min_size=1, max_size=4))
def test_a_hostile_config_is_read_or_refused_with_its_problems(
        changes: list[tuple[tuple[Any, ...], Any, bool]]) -> None:
    doc = _example()
    for path, value, delete in changes:
        try:
            _set(doc, path, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced the path's parent
    try:
        from_mapping(doc, EXAMPLE.parent)
    except ConfigError as error:
        problems = error.problems
        assert problems, "a refusal lists its problems"
        assert all(problem.strip() for problem in problems)


@FEW
@given(st.data())
def test_a_mangled_config_file_is_read_or_refused_with_its_problems(
        tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    text = EXAMPLE.read_bytes()
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 200))
    insert = data.draw(st.binary(max_size=30) | st.sampled_from(
        [b"[", b"]]", b'"', b"= ", b"\n[[mailboxes]]\n", b"\x00", b"\xff", b"'''"]))
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_bytes(text[:at] + insert + text[at + cut:])
    try:
        load(path)
    except ConfigError as error:
        problems = error.problems
        assert problems, "a refusal lists its problems"


def test_a_forwarded_from_line_with_a_long_run_of_brackets_reads_at_once() -> None:
    # Found by fuzzing: the display name was trimmed by a pattern anchored at its end,
    # which tried every bracket of the run (minutes for 100 000 of them).
    body = ("Please see below.\r\n\r\n---------- Forwarded message ---------\r\n"
            "From: " + "<" * 100_000 + "x jane@example.org\r\n"
            "Date: Mon, 23 Nov 2026 10:05:31 +0200\r\nSubject: Cake crushed\r\n"
            "To: support@acme.example\r\n\r\nMy cake arrived crushed.\r\n")
    data = ("From: desk@acme.example\r\nTo: support@acme.example\r\n"
            "Subject: Fwd: Cake crushed\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + body).encode()

    reading = read(data, RULES)

    assert reading.view.sender.email == "jane@example.org"
    assert reading.view.sender.name == "x"


def test_a_rule_line_padded_with_a_long_run_of_spaces_reads_at_once() -> None:
    # Found by fuzzing: "--------", 100 000 spaces, "Original Message --------" made the
    # rule pattern try every split of the spaces (tens of seconds), deciding the language.
    text = "My cake arrived crushed.\n" + "--------" + " " * 100_000 + \
        "Original Message --------\nold text"
    data = ("From: jane@example.org\r\nTo: support@acme.example\r\nSubject: Cake\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text).encode()

    assert examine(data) == "complaint"


def test_mail_with_hundreds_of_from_fields_is_quarantined_with_the_reason() -> None:
    # Found by fuzzing: each From field is parsed, so 40 of 16 KB cost seconds.
    data = b"".join(b"From: jane@example.org" + b" <" * 8000 + b"\r\n" for _ in range(40))
    data += b"To: support@acme.example\r\nSubject: Cake\r\n\r\nCrushed.\r\n"

    reading = read(data, RULES)

    assert "From repeated 40 times" in reading.refused


def test_a_reading_worker_may_not_take_the_machines_memory(reader: Reader) -> None:
    # Found by fuzzing: one mutated message made reading allocate 24 GB and the kernel's
    # OOM killer chose the process. A worker's address space is capped, so such a
    # reading fails (MemoryError) and its message is quarantined.
    reader.read(b"From: a@example.test\r\nSubject: hi\r\n\r\nMy cake was late.\r\n")
    pids = [w._process.pid for w in reader._workers if w._process is not None]
    assert pids
    for pid in pids:
        limits = Path(f"/proc/{pid}/limits").read_text()
        [line] = [x for x in limits.splitlines() if x.startswith("Max address space")]
        soft = line.split()[3]
        assert soft != "unlimited"
        assert int(soft) < 8 << 30
