"""`triaged forget`, `triaged export --customer` and `[privacy] retention`, on a database
that has been through a real run: after an erasure nothing of the customer's address,
name or words is left in any column of any table, on SQLite (the file itself included)
and on PostgreSQL, while the other customer's rows and the `stats` counts stay."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.support.approval import MakeShop, Shop, draft_by_email, outlook_quote, reply_to
from tests.support.files import with_files
from tests.support.mail import complaint_mail, parsed
from triaged.domain.records import Outcome
from triaged.store import rows
from triaged.store.db import make_engine, write_transaction
from triaged.store.models import metadata

PHRASE = "zanzibar kumquat torte 7731"
NAME = "Marisol Quennell"
# A file of theirs, as text so that a search of every column can see its bytes.
FILE_BYTES = b"receipt 5518-qx: one torte, paid in full"


def triaged(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triaged", "--config", str(config), *args],
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def stats(config: Path) -> dict[str, Any]:
    figures: dict[str, Any] = json.loads(ok(triaged(config, "stats", "--json")))
    return figures


def traces(engine: Engine, *needles: str) -> list[str]:
    """Every table.column holding one of `needles` (case-insensitive), as `table.column: needle`."""
    found: list[str] = []
    wanted = [n.lower() for n in needles]
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("utf-8", "replace").lower()
                    else:
                        text = str(value).lower()
                    found += [f"{table.name}.{column}: {n}" for n in wanted if n in text]
    return found


@pytest.fixture
def lived_in(make_shop: MakeShop) -> Shop:
    """A shop after some work: the customer's complaint answered, followed up, drafted,
    approved by email and resolved; an auto-reply of theirs; another customer's complaint."""
    shop = make_shop()
    complaint = shop.complain(subject="Crushed cake", body=f"The cake came crushed: {PHRASE}.",
                              name=NAME)
    [holding] = shop.inbox(shop.customer, 1)
    shop.send(shop.customer, reply_to(holding, shop.customer, f"Also, {PHRASE} again."))
    # Their receipt, as a file on the same complaint.
    receipt = with_files(shop.customer, shop.t.support, "Re: Crushed cake", "Receipt attached.",
                         [("receipt-5518.txt", "text/plain", FILE_BYTES)], name=NAME)
    shop.send(shop.customer, f"In-Reply-To: {parsed(holding)['Message-ID']}\r\n".encode()
              + receipt)
    draft_by_email(shop)
    [request] = shop.inbox(shop.dana, 1)
    shop.send(shop.dana, reply_to(request, shop.dana,
                                  f"APPROVE\n\nDana\n\n{outlook_quote(request)}"))
    assert shop.state(complaint.id) == "resolved"
    other = complaint_mail(shop.erin.replace("erin", "john"), shop.t.support,
                           "Wrong order", "I ordered rye and got white bread.", name="John")
    robot = complaint_mail(shop.customer, shop.t.support, "Out of office",
                           f"Away until May. {PHRASE}", Auto_Submitted="auto-replied", name=NAME)
    shop.stack.append(shop.t.support, "INBOX", [other, robot])
    assert shop.t.cycle().ok
    shop.t.restart()
    return shop


def _theirs(shop: Shop) -> tuple[str, ...]:
    return (shop.customer, NAME, PHRASE, FILE_BYTES.decode(), "receipt-5518")


def _john(engine: Engine) -> list[Any]:
    table = metadata.tables["complaint"]
    with engine.connect() as conn:
        return list(conn.execute(select(table.c.customer_email, table.c.subject)
                                 .where(table.c.subject == "Wrong order")))


def test_forget_erases_the_customer_everywhere_and_keeps_the_reports(
    lived_in: Shop, tmp_path: Path,
) -> None:
    config, engine = lived_in.t.config_path, lived_in.t.app.engine
    db = config.parent / "triaged.db"
    assert traces(engine, *_theirs(lived_in)), "the scene holds nothing of the customer"
    assert traces(engine, FILE_BYTES.decode()), "their file was not kept"
    before = stats(config)
    john = _john(engine)
    assert john

    # Another case and a display name: the same customer.
    spelled = f'"{NAME}" <{lived_in.customer.upper()}>'
    refused = triaged(config, "forget", spelled, stdin="n\n")
    assert refused.returncode == 1, refused.stderr
    assert traces(engine, *_theirs(lived_in))
    done = ok(triaged(config, "forget", spelled, "--yes"))
    assert "erased" in done
    assert "complaint" in done

    assert traces(engine, *_theirs(lived_in)) == []
    assert stats(config) == before
    assert _john(engine) == john
    # Freed pages are overwritten and the WAL emptied: the file holds none of it either.
    for path in (db, db.with_name(db.name + "-wal")):
        if path.exists():
            assert PHRASE.encode() not in path.read_bytes(), path
    events = lived_in.events("erased")
    assert events
    assert all(lived_in.customer not in json.dumps(e) for e in events)

    again = triaged(config, "forget", lived_in.customer, "--yes")
    assert again.returncode == 1
    assert "no customer with that address" in again.stderr

    # Writing again after erasure: a new customer, a new complaint and a new reference.
    lived_in.t.restart()
    count = stats(config)["complaints"]
    lived_in.send(lived_in.customer, complaint_mail(
        lived_in.customer, lived_in.t.support, "Re: [ERASED] Crushed cake", "Me again.",
        name=NAME))
    assert sum(stats(config)["complaints"].values()) == sum(count.values()) + 1


def test_forget_refuses_unknown_and_own_addresses_and_changes_nothing(
    lived_in: Shop, tmp_path: Path,
) -> None:
    config = lived_in.t.config_path
    first, second = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    ok(triaged(config, "export", "-o", str(first)))
    unknown = triaged(config, "forget", "nobody@nowhere.example", "--yes")
    assert unknown.returncode == 1
    assert "no customer with that address" in unknown.stderr
    for own in (lived_in.dana, lived_in.staff.upper(), lived_in.t.support):
        refused = triaged(config, "forget", own, "--yes")
        assert refused.returncode == 2, refused.stderr
        assert "not a customer" in refused.stderr
    assert triaged(config, "forget", "not an address", "--yes").returncode == 2
    ok(triaged(config, "export", "-o", str(second)))
    assert second.read_text() == first.read_text()


def test_export_customer_lists_every_complaint_message_and_letter_of_theirs(
    lived_in: Shop, tmp_path: Path,
) -> None:
    config, engine = lived_in.t.config_path, lived_in.t.app.engine
    folder = tmp_path / "maria"
    ok(triaged(config, "export", "--customer", lived_in.customer.upper(), "--output",
               str(folder)))
    lines = [json.loads(line) for line in (folder / "customer.jsonl").read_text().splitlines()]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_type.setdefault(line["type"], []).append(line["row"])
    message, complaint = metadata.tables["message"], metadata.tables["complaint"]
    with engine.connect() as conn:
        theirs = {int(i): bytes(raw or b"") for i, raw in conn.execute(
            select(message.c.id, message.c.raw).where(message.c.sender == lived_in.customer))}
        complaints = {int(i) for i, in conn.execute(
            select(complaint.c.id).where(complaint.c.customer_email == lived_in.customer))}
    assert {row["id"] for row in by_type["complaint"]} == complaints
    exported = {row["id"]: row for row in by_type["message"]}
    assert set(theirs) <= set(exported)
    for mid, raw in theirs.items():
        if raw:
            assert (folder / exported[mid]["raw_file"]).read_bytes() == raw
    assert any(PHRASE in (folder / row["raw_file"]).read_text(errors="replace")
               for row in exported.values() if row.get("raw_file"))
    letters = by_type["outbox_letter"]
    assert any(row["to_email"] == lived_in.customer for row in letters)
    assert all((folder / row["raw_file"]).exists() for row in letters if row.get("raw_file"))
    # Their file, its bytes beside the rows under the name its row gives.
    [kept] = [row for row in by_type["attachment"] if row["name"] == "receipt-5518.txt"]
    [blob] = [row for row in by_type["blob"] if row["sha256"] == kept["sha256"]]
    assert (folder / blob["data_file"]).read_bytes() == FILE_BYTES
    # Nothing of the other customer.
    assert "Wrong order" not in (folder / "customer.jsonl").read_text()
    refused = triaged(config, "export", "--customer", "nobody@nowhere.example",
                      "--output", str(tmp_path / "nobody"))
    assert refused.returncode == 1
    assert "no customer with that address" in refused.stderr


def test_retention_anonymises_what_ended_long_ago_in_run_once(
    lived_in: Shop, caplog: pytest.LogCaptureFixture,
) -> None:
    config, engine = lived_in.t.config_path, lived_in.t.app.engine
    # The satisfaction check is asked, then the complaint closes when all is quiet:
    # retention counts from there.
    for days in (5, 9):
        lived_in.t.clock.advance(timedelta(days=days))
        assert lived_in.t.cycle().ok
    assert "closed" in {row["state"] for row in _states(engine)}
    before = stats(config)
    john = _john(engine)
    config.write_text(config.read_text() + '\n[privacy]\nretention = "30 days"\n')
    lived_in.t.restart()
    lived_in.t.clock.advance(timedelta(days=31))
    with caplog.at_level(logging.INFO, logger="triaged.privacy"):
        report = lived_in.t.cycle()
    assert report.ok
    assert report.customers_erased == 1
    assert "personal data of 1 customer(s)" in caplog.text
    assert traces(engine, *_theirs(lived_in)) == []
    assert _john(engine) == john
    after = stats(config)
    assert after["messages"] == before["messages"]
    assert sum(after["complaints"].values()) == sum(before["complaints"].values())
    assert lived_in.t.cycle().customers_erased == 0


def _states(engine: Engine) -> list[Any]:
    table = metadata.tables["complaint"]
    with engine.connect() as conn:
        return list(conn.execute(select(table.c.state)).mappings())


@pytest.mark.parametrize("bad", ["-1 days", "soon", "3 business days"])
def test_a_bad_retention_is_refused_with_its_key(lived_in: Shop, bad: str) -> None:
    config = lived_in.t.config_path
    config.write_text(config.read_text() + f'\n[privacy]\nretention = "{bad}"\n')
    result = triaged(config, "check")
    assert result.returncode == 2
    assert "privacy.retention" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_kill_in_the_middle_of_forget_leaves_all_or_nothing(
    lived_in: Shop, tmp_path: Path,
) -> None:
    config, engine = lived_in.t.config_path, lived_in.t.app.engine
    _many(engine, lived_in.customer, 3000)
    complaint = metadata.tables["complaint"]

    def theirs() -> int:
        with engine.connect() as conn:
            return len(list(conn.execute(select(complaint.c.id).where(
                complaint.c.customer_email == lived_in.customer))))

    total = theirs()
    killed_while_running = 0
    for delay in (0.3, 0.6, 0.9, 1.2, 1.5, 2.0):
        process = subprocess.Popen([sys.executable, "-m", "triaged", "--config", str(config),
                                    "forget", lived_in.customer, "--yes"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            killed_while_running += 1
            process.send_signal(signal.SIGKILL)
        process.wait(60)
        left = theirs()
        assert left in (0, total), f"killed after {delay}s: {left} of {total} left"
        if left == 0:
            break
    assert killed_while_running, "forget finished before any kill: nothing was tested"
    if theirs():
        ok(triaged(config, "forget", lived_in.customer, "--yes"))
    assert theirs() == 0
    assert traces(engine, *_theirs(lived_in)) == []


def _many(engine: Engine, customer: str, count: int) -> None:
    """`count` more complaints of `customer`, each with its message: forget takes a while."""
    at = datetime.now(UTC)
    raw = f"Subject: bulk\r\n\r\n{PHRASE}\r\n".encode()
    with write_transaction(engine) as conn:
        for n in range(count):
            cid = rows.insert_complaint(conn, rows.NewComplaintRow(
                reference=f"BULK-{n:06d}", mailbox="support", customer_email=customer,
                customer_name=NAME, subject=f"bulk {n} {PHRASE}", language="en",
                received_at=at, due_at=at, now=at))
            rows.insert_message(conn, rows.IncomingRow(
                mailbox="support", folder="INBOX", uidvalidity=1, uid=100000 + n,
                message_id=f"<bulk{n}@example>", sha256=f"{n:064d}", raw=raw, size=len(raw),
                sender=customer, subject="bulk", sent_date=None, text=PHRASE,
                outcome=Outcome.COMPLAINT, rule="", complaint_id=cid, received_at=at))


@pytest.mark.postgres
def test_forget_on_postgresql(lived_in: Shop, new_pg_database: Any, tmp_path: Path) -> None:
    dump = tmp_path / "all.jsonl"
    ok(triaged(lived_in.t.config_path, "export", "-o", str(dump)))
    url = new_pg_database()
    text = lived_in.t.config_path.read_text()
    sqlite_url = f"sqlite:///{lived_in.t.config_path.parent / 'triaged.db'}"
    assert sqlite_url in text
    config = tmp_path / "pg.toml"
    config.write_text(text.replace(sqlite_url, url))
    engine = make_engine(url)
    try:
        ok(triaged(config, "import", str(dump)))
        assert traces(engine, *_theirs(lived_in))
        before = stats(config)
        ok(triaged(config, "forget", lived_in.customer.title(), "--yes"))
        assert traces(engine, *_theirs(lived_in)) == []
        assert stats(config) == before
    finally:
        engine.dispose()


def test_every_table_of_the_sqlite_file_is_searched(lived_in: Shop) -> None:
    db = lived_in.t.config_path.parent / "triaged.db"
    conn = sqlite3.connect(db)
    try:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert names - {"alembic_version"} == {t.name for t in metadata.sorted_tables}
