"""`triaged backup`: SQLite's online backup taken while the daemon (a real process)
registers and answers mail, then opened as a database of its own."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.daemon import Setup, wait_first_contact
from tests.support.fixture_types import NewAddress
from tests.support.installation import config_text


def triaged(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triaged", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=60, check=False)


def config_for(setup: Setup, db: Path, name: str) -> Path:
    path = setup.folder / name
    path.write_text(config_text(setup.stack, setup.support, db, setup.folder / "imap.pass"))
    return path


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_a_backup_taken_while_the_daemon_works_is_a_whole_database_of_its_own(
    setup: Setup, new_address: NewAddress,
) -> None:
    setup.write_config()
    daemon = setup.start()
    wait_first_contact(daemon)
    customers = [new_address("cust") for _ in range(4)]
    sent: list[int] = []
    stop = threading.Event()

    def keep_complaining() -> None:
        # Mail keeps arriving, and the daemon keeps writing, during every backup.
        while not stop.is_set():
            setup.send_complaint(customers[len(sent) % len(customers)], f"Complaint {len(sent)}")
            sent.append(1)
            time.sleep(0.05)

    mail = threading.Thread(target=keep_complaining)
    mail.start()
    try:
        daemon.wait_for_log(r"registered", count=3, timeout=20)
        backups = [setup.folder / f"backup-{n}.db" for n in range(3)]
        results = []
        for backup in backups:
            results.append(triaged(setup.config_path, "backup", str(backup)))
            time.sleep(0.3)
    finally:
        stop.set()
        mail.join()
    deadline = time.monotonic() + 30
    while len(setup.complaints()) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.2)
    live = {c.reference: c.customer_email for c in setup.complaints()}
    assert len(live) == len(sent)

    counts = []
    for backup, result in zip(backups, results, strict=True):
        assert result.returncode == 0, result.stderr
        assert f"to {backup}" in result.stdout
        assert "integrity check ok" in result.stdout
        assert integrity(backup) == "ok"
        assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600, "it holds customers' mail"
        other = config_for(setup, backup, f"{backup.stem}.toml")
        listed = json.loads(triaged(other, "list", "--json").stdout)
        assert listed, "the backup holds the complaints registered before it"
        for complaint in listed:
            assert live[complaint["reference"]] == complaint["customer"]
        counts.append(len(listed))
    assert counts == sorted(counts)
    assert counts[0] < len(live), "the daemon went on registering mail after the backup"
    assert daemon.stop() == 0
    assert "locked" not in daemon.log


def test_backup_into_a_folder_names_the_file_by_time_and_never_overwrites(
    setup: Setup,
) -> None:
    setup.write_config()
    assert triaged(setup.config_path, "migrate").returncode == 0
    folder = setup.folder / "backups"
    folder.mkdir()

    made = triaged(setup.config_path, "backup", str(folder))

    assert made.returncode == 0, made.stderr
    [backup] = folder.glob("triaged-*.db")
    assert integrity(backup) == "ok"
    again = triaged(setup.config_path, "backup", str(backup))
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr
    assert [p.name for p in folder.iterdir()] == [backup.name], "no partial file left behind"


def test_backup_refuses_postgresql_with_a_hint_and_a_missing_database_clearly(
    setup: Setup,
) -> None:
    setup.write_config()
    text = setup.config_path.read_text()
    postgres = setup.folder / "pg.toml"
    postgres.write_text(text.replace(f'url = "sqlite:///{setup.db}"',
                                     'url = "postgresql+psycopg://triaged@db.example/triaged"'))
    missing = config_for(setup, setup.folder / "nothing-here.db", "missing.toml")

    refused = triaged(postgres, "backup", str(setup.folder / "b.db"))
    nothing = triaged(missing, "backup", str(setup.folder / "b.db"))

    assert refused.returncode == 2, refused.stderr
    assert "pg_dump" in refused.stderr
    assert nothing.returncode == 1, nothing.stderr
    assert "no database at" in nothing.stderr
    for result in (refused, nothing):
        assert "Traceback" not in result.stderr
    assert not (setup.folder / "nothing-here.db").exists(), "a backup creates no database"
