"""What a start leaves in the daemon's memory: what running needs, not what other
commands or other businesses need (it keeps the rest for good)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from triaged.store.db import make_engine, migrate

# Builds the daemon's app as `triaged run` does, then names the modules of interest
# it holds: the migration tool and its helpers, and the countries' holiday rules.
START = """
import sys
from triaged import app as wiring
from triaged.config.loading import load
app = wiring.build(load(sys.argv[1]))
app.close()
print(" ".join(sorted(name for name in sys.modules
                      if name.split(".")[0] in ("alembic", "mako", "pygments")
                      or name.startswith("holidays.countries."))))
"""


def installed(tmp_path: Path, country: str, schema: bool) -> Path:
    """A config file of a business in `country`, its database migrated when `schema`."""
    db = tmp_path / "triaged.db"
    if schema:
        engine = make_engine(f"sqlite:///{db}")
        migrate(engine)
        engine.dispose()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[business]
name = "Acme Bakery"
timezone = "Europe/Bucharest"
country = "{country}"
[[mailboxes]]
address = "support@acme.example"
maildir = "{tmp_path / 'Maildir'}"
[smtp]
deliver_to_maildir = "{tmp_path / 'outgoing'}"
[database]
url = "sqlite:///{db}"
""")
    return config


def started(config: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", START, str(config)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_start_at_the_newest_schema_holds_no_migration_tool_and_one_countrys_holidays(
    tmp_path: Path,
) -> None:
    assert started(installed(tmp_path, "RO", schema=True)) == ["holidays.countries.romania"]


def test_a_territory_holds_its_own_rules_and_its_mother_countrys(tmp_path: Path) -> None:
    # French Guiana's holidays are France's and its own.
    assert started(installed(tmp_path, "GF", schema=True)) == [
        "holidays.countries.france", "holidays.countries.french_guiana"]


def test_a_first_start_migrates_with_the_migration_tool(tmp_path: Path) -> None:
    config = installed(tmp_path, "RO", schema=False)
    assert "alembic" in started(config)
    assert started(config) == ["holidays.countries.romania"]
