"""`triaged export` and `triaged import`: a database that has been through a real run
(complaints, a follow-up, a draft approved by email, letters sent, a quarantined
message, an auto-reply) moved to a new database and found identical there."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.approval import MakeShop, Shop, draft_by_email, outlook_quote, reply_to
from tests.support.mail import complaint_mail
from triaged.store.models import metadata


def triaged(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triaged", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def json_of(config: Path, *args: str) -> Any:
    return json.loads(ok(triaged(config, *args)))


def elsewhere(shop: Shop, name: str) -> Path:
    """The shop's config pointing at a new, empty database `name`."""
    text = shop.t.config_path.read_text()
    old_db = shop.t.config_path.parent / "triaged.db"
    path = shop.t.config_path.parent / f"{name}.toml"
    path.write_text(text.replace(str(old_db), str(old_db.with_name(f"{name}.db"))))
    return path


def row_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        return {t.name: conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]
                for t in metadata.sorted_tables}
    finally:
        conn.close()


@pytest.fixture
def lived_in(make_shop: MakeShop) -> Shop:
    """A shop after a week of work: everything the tables can hold, made by real mail."""
    shop = make_shop()
    complaint = shop.complain()
    [holding] = shop.inbox(shop.customer, 1)
    shop.send(shop.customer, reply_to(holding, shop.customer, "It was the chocolate one."))
    draft_by_email(shop)
    [request] = shop.inbox(shop.dana, 1)
    shop.send(shop.dana, reply_to(request, shop.dana,
                                  f"APPROVE\n\nDana\n\n{outlook_quote(request)}"))
    assert shop.state(complaint.id) == "resolved"
    other = complaint_mail(shop.erin.replace("erin", "john"), shop.t.support,
                           "Wrong order", "I ordered rye and got white bread.", name="John")
    robot = complaint_mail(shop.customer, shop.t.support, "Out of office", "Away until May.",
                           Auto_Submitted="auto-replied")
    shop.stack.append(shop.t.support, "INBOX",
                      [other, robot, b"Subject: no sender here\r\n\r\nbody\r\n"])
    assert shop.t.cycle().ok
    shop.t.restart()
    return shop


def test_an_export_imported_into_a_new_database_exports_the_same_and_shows_the_same(
    lived_in: Shop, tmp_path: Path,
) -> None:
    original = lived_in.t.config_path
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    counts = row_counts(original.parent / "triaged.db")
    # Every kind of row this test means to carry over is really there.
    for table in ("complaint", "message", "event", "outbox_letter", "mailbox_cursor",
                  "quarantine", "used_token", "draft"):
        assert counts[table] > 0, f"the scene has no {table} rows: {counts}"

    exported = triaged(original, "export", "--output", str(first))
    ok(exported)
    assert f"{counts['complaint']} complaint" in exported.stderr
    copy = elsewhere(lived_in, "copy")
    imported = ok(triaged(copy, "import", str(first)))
    assert f"{counts['message']} message" in imported
    ok(triaged(copy, "export", "-o", str(second)))

    assert second.read_bytes() == first.read_bytes()
    assert row_counts(tmp_path / "copy.db") == counts
    lines = [json.loads(line) for line in first.read_text().splitlines()]
    assert lines[0]["type"] == "header"
    assert lines[-1] == {"type": "end", "rows": counts}
    assert {line["type"] for line in lines[1:-1]} == {t for t, n in counts.items() if n}
    listed = json_of(original, "list", "--json")
    assert json_of(copy, "list", "--json") == listed
    for complaint in listed:
        assert json_of(copy, "show", complaint["reference"], "--json") == json_of(
            original, "show", complaint["reference"], "--json")
    assert json_of(copy, "quarantine", "list", "--json") == json_of(
        original, "quarantine", "list", "--json")
    assert json_of(copy, "stats", "--json") == json_of(original, "stats", "--json")
    # Piped: to standard output, and back in from standard input (`| gzip`, `ssh`, ...).
    assert ok(triaged(original, "export")) == first.read_text()
    piped = elsewhere(lived_in, "piped")
    loaded = subprocess.run([sys.executable, "-m", "triaged", "--config", str(piped), "import",
                             "-"], input=first.read_text(), capture_output=True, text=True,
                            timeout=120, check=False)
    ok(loaded)
    assert row_counts(tmp_path / "piped.db") == counts
    again = triaged(original, "export", "--output", str(first))
    assert again.returncode == 1
    assert "already exists" in again.stderr
    # The raw mail itself came across byte for byte, not only what was parsed out of it.
    [entry] = json_of(copy, "quarantine", "list", "--json")
    raw = triaged(copy, "quarantine", "show", str(entry["id"]))
    assert "no sender here" in ok(raw)


def test_the_imported_database_keeps_working_ids_continue_and_used_tokens_stay_used(
    lived_in: Shop, tmp_path: Path,
) -> None:
    export = tmp_path / "state.jsonl"
    ok(triaged(lived_in.t.config_path, "export", "-o", str(export)))
    copy = elsewhere(lived_in, "copy")
    ok(triaged(copy, "import", str(export)))
    before = row_counts(tmp_path / "copy.db")
    lived_in.t.config_path = copy

    # Dana's APPROVE comes again (a replayed mail): its token was used before the move.
    request = lived_in.latest(lived_in.dana, "Approval needed")
    lived_in.send(lived_in.dana, reply_to(request, lived_in.dana, "APPROVE"))
    lived_in.complain("Another crushed cake", "The second one too.")

    after = row_counts(tmp_path / "copy.db")
    assert after["complaint"] == before["complaint"] + 1
    assert after["message"] == before["message"] + 2
    assert after["used_token"] == before["used_token"], "a used token is refused, not used"
    [refused] = lived_in.events("reply_refused")
    assert "already answered" in refused["reason"], refused


def test_import_refuses_a_database_that_is_not_empty_and_changes_nothing(
    lived_in: Shop, tmp_path: Path,
) -> None:
    export = tmp_path / "state.jsonl"
    ok(triaged(lived_in.t.config_path, "export", "-o", str(export)))
    counts = row_counts(lived_in.t.config_path.parent / "triaged.db")

    result = triaged(lived_in.t.config_path, "import", str(export))

    assert result.returncode == 1, result.stderr
    assert "not empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert row_counts(lived_in.t.config_path.parent / "triaged.db") == counts


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda lines: lines[:-1], "truncated"),
    (lambda lines: lines[:3] + lines[4:], "damaged"),
    (lambda lines: ['{"type": "complaint"}', *lines[1:]], "header"),
    (lambda lines: [*lines[:2], "{not json", *lines[2:]], "line 3: not JSON"),
])
def test_import_of_a_damaged_file_says_what_is_wrong_and_leaves_the_database_empty(
    lived_in: Shop, tmp_path: Path, damage: Any, reason: str,
) -> None:
    export = tmp_path / "state.jsonl"
    ok(triaged(lived_in.t.config_path, "export", "-o", str(export)))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(damage(export.read_text().splitlines())) + "\n")
    copy = elsewhere(lived_in, "copy")

    result = triaged(copy, "import", str(broken))

    assert result.returncode == 1, result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    assert json_of(copy, "list", "--json") == []
