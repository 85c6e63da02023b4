"""`triaged check` as an operator runs it before the first start and after every change:
one row per check (ok / warn / FAIL), `--json` for scripts, exit 0 / 1 / 2.

The simpler failures (SMTP port, IMAP password, a template using an unknown variable)
are in test_cli.py; here: a complete healthy installation, several failures at once,
the approval key, template syntax errors in any language, folders and schema versions.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from typing import Any

import pytest

from tests.support.cli import (
    IMAP_SECRET,
    Install,
    Result,
    assert_no_traceback,
)
from tests.support.ports import dead_port
from triaged.store.db import make_engine, migrate

STRONG_KEY = secrets.token_hex(32)


def with_approval(install: Install, key: str | None = STRONG_KEY, mode: int = 0o600,
                  managers: bool = True) -> str:
    """The [approval] and [[managers]] tail of a config, writing the key file."""
    tail = '[[managers]]\nemail = "dana@acme.example"\nlevel = 1\n' if managers else ""
    if key is None:
        return tail
    path = install.dir / "approval.key"
    path.write_text(key + "\n")
    path.chmod(mode)
    return tail + f'\n[approval]\nsecret_file = "{path}"\n'


def migrated(install: Install) -> None:
    engine = make_engine(f"sqlite:///{install.db}")
    try:
        migrate(engine)
    finally:
        engine.dispose()


def rows(result: Result) -> dict[str, tuple[str, str]]:
    """check name → (result, detail), from the JSON output."""
    checks: list[dict[str, Any]] = json.loads(result.out)["checks"]
    return {c["check"]: (c["result"], c["detail"]) for c in checks}


def table(result: Result) -> dict[str, str]:
    """check name → result, from the human table: result, name, detail, columns apart by
    at least two spaces (a name may hold one, as in "mailbox support")."""
    found = {}
    for line in result.out.splitlines():
        match = re.match(r"^(ok|warn|FAIL) +(.+?)  +\S", line)
        assert match, f"not a table row: {line!r}"
        found[match[2]] = match[1]
    return found


def test_a_healthy_installation_is_all_ok_in_the_table_and_in_json(install: Install) -> None:
    overrides = install.dir / "templates"
    (overrides / "en").mkdir(parents=True)
    (overrides / "en" / "holding.txt.j2").write_text(
        "Dear {{ customer_name }}, thank you. [{{ reference }}]\n")
    path = install.config(tail=with_approval(install) + f'\n[templates]\ndir = "{overrides}"\n')
    migrated(install)

    human, machine = install.many([(path, ["check"]), (path, ["check", "--json"])])

    for result in (human, machine):
        assert result.code == 0, result.describe()
        assert_no_traceback(result)
        assert IMAP_SECRET not in result.both
        assert STRONG_KEY not in result.both
    found = rows(machine)
    assert json.loads(machine.out)["ok"] is True
    assert {name: status for name, (status, _) in found.items()} == {
        name: "ok" for name in found}, machine.out
    assert set(table(human)) == set(found), "the table and the JSON list the same checks"
    assert set(table(human).values()) == {"ok"}
    expected = {"config", "database", "mailbox support", "smtp", "approval key",
                *(f"templates {lang}" for lang in
                  ("de", "en", "es", "fr", "ja", "ko", "ro", "th", "tl"))}
    assert set(found) == expected
    assert "newest" in found["database"][1]
    mailbox = found["mailbox support"][1]
    assert "folder INBOX" in mailbox
    # The two checks ran side by side: one of them made the processed folder, as the
    # first run would, and the other may have found it made.
    assert "Triaged created" in mailbox or "Triaged created" in human.out, (human.out, mailbox)
    assert install.stack.folder_uids(install.support, "Triaged").uids == []
    assert "nothing sent" in found["smtp"][1]
    assert "mode 0600" in found["approval key"][1]
    english = found["templates en"][1]
    for kind in ("holding", "final", "new_complaint", "approval_request", "refusal",
                 "staff_notice", "approved", "rejected", "reminder", "escalation"):
        assert kind in english


def test_a_broken_config_in_json_lists_every_problem_and_exits_2(install: Install) -> None:
    path = install.dir / "bad.toml"
    path.write_text('[business]\nname = "X"\ntimezone = "Mars/Olympus"\n\n[smtp]\nhots = "a"\n')

    result = install.run(path, "check", "--json")

    assert result.code == 2, result.describe()
    [config] = json.loads(result.out)["checks"]
    assert config["result"] == "FAIL"
    assert [p.split(":")[0] for p in config["problems"]] == [
        "business.timezone", "mailboxes", "smtp.host", "unknown key 'smtp.hots' (did you mean "
        "'smtp.host'?)"]
    assert "Mars/Olympus" in result.err, "the problems are on stderr too"


def test_unreachable_imap_and_smtp_both_fail_and_are_named(install: Install) -> None:
    path = install.config(imap_port=dead_port(), smtp_port=dead_port())

    result = install.run(path, "check", "--json")

    assert result.code == 1, result.describe()
    assert json.loads(result.out)["ok"] is False
    failed = {name: detail for name, (status, detail) in rows(result).items()
              if status == "FAIL"}
    assert set(failed) == {"mailbox support", "smtp"}
    assert "connection refused" in failed["mailbox support"]
    assert "support" in failed["mailbox support"], "names the mailbox"
    assert "connect" in failed["smtp"].lower()


def test_a_missing_folder_fails_the_mailbox_check(install: Install) -> None:
    path = install.config(mailbox='folder = "Complaints"')

    result = install.run(path, "check")

    assert result.code == 1, result.describe()
    [line] = [line for line in result.out.splitlines() if line.startswith("FAIL")]
    assert "mailbox support" in line
    assert "folder 'Complaints' does not exist" in line


@pytest.mark.parametrize(
    ("case", "approval", "status", "what_it_says"),
    [
        ("too short", {"key": "correct-horse-battery"}, "FAIL", "at most 126 bits"),
        ("hex but short", {"key": secrets.token_hex(16)}, "FAIL", "at most 128 bits"),
        ("repetitive", {"key": "ab" * 40}, "FAIL", "only 2 different characters"),
        ("readable by everyone", {"mode": 0o644}, "FAIL", "chmod 600"),
        ("missing, with managers", {"key": None}, "FAIL", "managers are configured"),
        ("missing, no managers", {"key": None, "managers": False}, "warn", "secret_file"),
        ("group-readable", {"mode": 0o640}, "ok", "mode 0640"),
        ("base64 from urandom", {"key": "q2sVZ1lTtjNXzQ4wMPe3wYg8dGJTo2xS6x4c7kUPJ0Y="}, "ok",
         "strong enough"),
    ],
)
def test_the_approval_key_must_be_strong_and_private(
    install: Install, case: str, approval: dict[str, Any], status: str, what_it_says: str
) -> None:
    path = install.config(tail=with_approval(install, **approval))
    migrated(install)

    result = install.run(path, "check", "--json")

    found = rows(result)
    assert found["approval key"][0] == status, result.describe()
    assert what_it_says in found["approval key"][1]
    assert result.code == (1 if status == "FAIL" else 0), result.describe()
    others = {s for name, (s, _) in found.items() if name != "approval key"}
    assert others == {"ok"}, "only the key is at fault"
    key = approval.get("key", STRONG_KEY)
    assert not key or key not in result.both, "the key itself is never shown"


def test_a_template_syntax_error_in_any_language_names_its_file_and_line(
    install: Install,
) -> None:
    overrides = install.dir / "templates"
    (overrides / "ko").mkdir(parents=True)
    (overrides / "ko" / "final.html.j2").write_text(
        "<p>{{ greeting }}</p>\n<p>{% if resolution %}{{ resolution }</p>\n")
    (overrides / "en").mkdir()
    (overrides / "en" / "holdng.txt.j2").write_text("a misspelt name nobody reads\n")
    path = install.config(tail=f'[templates]\ndir = "{overrides}"\n')
    migrated(install)

    result = install.run(path, "check", "--json")

    assert result.code == 1, result.describe()
    found = rows(result)
    failed = {name for name, (status, _) in found.items() if status == "FAIL"}
    assert failed == {"templates ko"}, result.describe()
    detail = found["templates ko"][1]
    assert "final:" in detail
    assert "ko/final.html.j2, line 2" in detail
    assert found["templates dir"] == ("warn", "no letter uses en/holdng.txt.j2 (misspelt?)")
    assert found["templates en"][0] == "ok"
    assert_no_traceback(result)


@pytest.mark.parametrize(
    ("revision", "status", "what_it_says"),
    [
        ("0001_initial", "warn", "`triaged run` upgrades it"),
        ("0099_from_a_newer_triaged", "FAIL", "upgrade triaged"),
    ],
)
def test_the_schema_version_is_compared_with_the_newest_this_triaged_knows(
    install: Install, revision: str, status: str, what_it_says: str
) -> None:
    path = install.config()
    migrated(install)
    with sqlite3.connect(install.db) as db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))

    result = install.run(path, "check", "--json")

    assert rows(result)["database"][0] == status, result.describe()
    assert revision in rows(result)["database"][1]
    assert what_it_says in rows(result)["database"][1]
    assert result.code == (1 if status == "FAIL" else 0)


def test_check_never_creates_the_sqlite_file(install: Install) -> None:
    path = install.config()

    result = install.run(path, "check", "--json")

    assert rows(result)["database"][0] == "warn", result.describe()
    assert "`triaged run` creates it" in rows(result)["database"][1]
    assert not install.db.exists(), "a file made by `check` (often as root) would be unwritable"
    assert result.code == 0


def test_a_database_that_cannot_be_opened_fails_in_one_plain_line(install: Install) -> None:
    folder = install.dir / "not-a-file.db"
    folder.mkdir()
    path = install.config(tail="")
    path.write_text(path.read_text().replace(str(install.db), str(folder)))

    result = install.run(path, "check", "--json")

    assert result.code == 1, result.describe()
    status, detail = rows(result)["database"]
    assert status == "FAIL"
    assert "cannot connect: unable to open database file" in detail
    assert "sqlalche.me" not in detail, "no SQLAlchemy boilerplate"
