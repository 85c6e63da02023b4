"""Upgrading an installation: `triaged migrate`, `[database] migrate_on_start`, and a
database newer than the code. The console script runs as a subprocess against the
session's real Dovecot + SMTP relay, on a database built with the first schema."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support.cli import (
    ROUND_THE_CLOCK,
    Install,
    assert_no_traceback,
    reference_in_reply,
)
from tests.support.fixture_types import NewAddress
from triaged.core.references import new_reference
from triaged.store.db import head_revision, make_engine, move_schema, writer

FIRST = "0001_initial"
OLD_MAIL = (b"From: Ioana Pop <ioana@customer.example>\r\nTo: support\r\n"
            b"Subject: Stale bread\r\nMessage-ID: <old-1@customer.example>\r\n\r\n"
            b"The bread was stale.\r\n")


def first_schema_database(install: Install) -> str:
    """A database as the first release left it: schema 0001 and one answered complaint,
    written with that revision's own tables (raw SQL: today's models no longer fit it).
    Returns the complaint's reference."""
    engine = make_engine(f"sqlite:///{install.db}")
    with writer(engine) as conn, conn.begin():
        move_schema(conn, FIRST)
    engine.dispose()
    reference = new_reference()
    uidvalidity = install.stack.folder_uids(install.support).uidvalidity
    at, due = "2026-11-23 08:00:00.000000", "2027-01-15 15:00:00.000000"
    db = sqlite3.connect(install.db)
    with db:
        db.execute(
            "INSERT INTO complaint (id, reference, mailbox, state, customer_email, customer_name,"
            " subject, language, received_at, due_at, escalation_level, category, priority,"
            " created_at, updated_at) VALUES (1, ?, 'support', 'acknowledged',"
            " 'ioana@customer.example', 'Ioana Pop', 'Stale bread', 'en', ?, ?, 0, '',"
            " 'normal', ?, ?)", (reference, at, due, at, at))
        db.execute(
            "INSERT INTO message (id, mailbox, folder, uidvalidity, uid, message_id, sha256,"
            " raw, size, sender, subject, sent_date, text, outcome, rule, reason, complaint_id,"
            " duplicate_of, received_at) VALUES (1, 'support', 'INBOX', ?, 1,"
            " '<old-1@customer.example>', 'aa11', ?, ?, 'ioana@customer.example',"
            " 'Stale bread', ?, 'The bread was stale.', 'complaint', '', '', 1, NULL, ?)",
            (uidvalidity, OLD_MAIL, len(OLD_MAIL), at, at))
        db.executemany(
            "INSERT INTO event (complaint_id, message_row_id, at, kind, actor, detail)"
            " VALUES (1, 1, ?, ?, 'triaged', ?)",
            [(at, "registered", '{"reference": "' + reference + '"}'),
             (at, "acknowledged", "{}")])
        db.execute(
            "INSERT INTO outbox_letter (complaint_id, kind, to_email, message_id, subject, raw,"
            " automatic, state, attempts, next_attempt_at, last_error, created_at, sent_at)"
            " VALUES (1, 'holding', 'ioana@customer.example', '<holding-1@acme.example>', ?,"
            " ?, 1, 'sent', 1, ?, '', ?, ?)",
            (f"Re: Stale bread [{reference}]", b"Subject: holding\r\n\r\nthanks\r\n", at, at, at))
        # The folder as read so far: the next cycle reads only what comes after it.
        db.execute(
            "INSERT INTO mailbox_cursor (mailbox, folder, uidvalidity, last_uid, floor,"
            " quiet_until, left_alone_before) VALUES ('support', 'INBOX', ?, 0, 0, 0, NULL)",
            (uidvalidity,))
    db.close()
    return reference


def schema_of(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        conn.close()


def test_migrate_brings_a_first_release_database_up_to_date_and_its_complaints_stay_usable(
    install: Install, new_address: NewAddress,
) -> None:
    reference = first_schema_database(install)
    config = install.config(calendar=ROUND_THE_CLOCK)
    config.write_text(config.read_text().replace("[database]\n",
                                                 "[database]\nmigrate_on_start = false\n"))

    # Behind and not allowed to migrate: every command says what to do, and touches nothing.
    refused = install.many([(config, ["run", "--once"]), (config, ["list", "--json"]),
                            (config, ["check"]), (config, ["migrate", "--check"])])
    run_once, listing, check, pending = refused
    for result in (run_once, listing):
        assert result.code == 2, result.describe()
        assert "schema behind" in result.err
        assert "triaged migrate" in result.err
        assert result.out == ""
    assert check.code == 1, check.describe()
    assert "FAIL  database" in check.out
    assert "triaged migrate" in check.out
    assert pending.code == 1, pending.describe()
    assert f"upgrade pending: {FIRST} → {head_revision()}" in pending.out
    assert "0002_ladder" in pending.out
    for result in refused:
        assert_no_traceback(result)
    assert schema_of(install.db) == FIRST
    # Reading is safe at any known revision: an export before the upgrade, just in case.
    before = install.dir / "before-upgrade.jsonl"
    exported = install.run(config, "export", "--output", str(before))
    assert exported.code == 0, exported.describe()
    assert json.loads(before.read_text().splitlines()[0])["schema"] == FIRST

    migrated = install.run(config, "migrate")

    assert migrated.code == 0, migrated.describe()
    assert f"schema upgraded: {FIRST} → {head_revision()}" in migrated.out
    assert schema_of(install.db) == head_revision()
    # A letter written before the upgrade counts against its mailbox's limit.
    db = sqlite3.connect(install.db)
    try:
        assert db.execute("SELECT to_key FROM outbox_letter").fetchall() == [
            ("ioana@customer.example",)]
    finally:
        db.close()
    again, checked = install.many([(config, ["migrate", "--check"]), (config, ["check"])])
    assert again.code == 0, again.describe()
    assert "nothing to do" in again.out
    assert f"schema at {head_revision()} (the newest)" in checked.out, checked.describe()

    [old] = install.run(config, "list", "--json").json()
    assert (old["reference"], old["state"], old["customer"], old["customer_name"]) == (
        reference, "acknowledged", "ioana@customer.example", "Ioana Pop")
    assert old["due_at"] == "2027-01-15T15:00:00+00:00"
    assert (old["forwarded_by"], old["linked_reference"]) == ("", "")
    shown = install.run(config, "show", reference, "--json").json()
    assert [m["text"] for m in shown["messages"]] == ["The bread was stale."]
    assert [(letter["kind"], letter["state"]) for letter in shown["letters"]] == [
        ("holding", "sent")]
    assert [e["kind"] for e in shown["events"]] == ["registered", "acknowledged"]

    # The upgraded installation goes on working: a new complaint is registered and answered.
    customer = new_address("cust")
    install.send(customer, "Cake arrived crushed", "The cake was crushed.")
    cycle = install.run(config, "run", "--once")
    assert cycle.code == 0, cycle.describe()
    new_reference_ = reference_in_reply(install.stack, customer)
    listed = install.run(config, "list", "--json").json()
    assert [c["reference"] for c in listed] == [reference, new_reference_]
    assert listed[1]["state"] == "acknowledged"

    # The export from before the upgrade goes into a new installation of this version.
    fresh = install.config("fresh.toml", calendar=ROUND_THE_CLOCK)
    fresh.write_text(fresh.read_text().replace(str(install.db), str(install.dir / "fresh.db")))
    loaded = install.run(fresh, "import", str(before))
    assert loaded.code == 0, loaded.describe()
    assert f"imported into schema {head_revision()}" in loaded.out
    assert install.run(fresh, "list", "--json").json() == [old]
    assert install.run(fresh, "show", reference, "--json").json() == shown


def test_by_default_the_first_command_upgrades_an_old_schema_and_says_so(
    install: Install,
) -> None:
    reference = first_schema_database(install)
    config = install.config()

    listed = install.run(config, "list", "--json")

    assert [c["reference"] for c in listed.json()] == [reference]
    assert f"database schema upgraded: {FIRST} → {head_revision()}" in listed.err
    assert schema_of(install.db) == head_revision()
    assert "upgraded" not in install.run(config, "list", "--json").err, "once only"


def test_a_database_upgraded_by_a_newer_triaged_is_refused_by_every_command(
    install: Install,
) -> None:
    config = install.config()
    assert install.run(config, "migrate").code == 0
    db = sqlite3.connect(install.db)
    with db:
        db.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    db.close()
    export = install.dir / "state.jsonl"
    export.write_text("")

    results = install.many([(config, args) for args in (
        ["run", "--once"], ["list", "--json"], ["migrate"], ["migrate", "--check"],
        ["export"], ["check"])])

    for result in results:
        expected = 1 if result.args == ("check",) else 2
        assert result.code == expected, result.describe()
        assert_no_traceback(result)
        assert "0099_from_the_future" in result.both, result.describe()
        assert "newer triaged" in result.both, result.describe()
    assert schema_of(install.db) == "0099_from_the_future", "nothing was touched"


def test_migrate_on_start_must_be_true_or_false(install: Install) -> None:
    config = install.config()
    config.write_text(config.read_text().replace("[database]\n",
                                                 '[database]\nmigrate_on_start = "no"\n'))

    result = install.run(config, "migrate")

    assert result.code == 2, result.describe()
    assert "database.migrate_on_start: expected true or false" in result.err
