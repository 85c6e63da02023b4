"""Report: what becomes of every message of the optional real-world corpus in a real Dovecot
mailbox (where it is: tests/shared_corpus.py).

Appends all of them to a private Dovecot's INBOX, runs `triaged run --once` as a
process, then prints `triaged stats --json`'s outcome counts and every
quarantined file with its reason (every message accounted for; the test
tests/integration/test_corpus_intake.py asserts the same accounting).

    .venv/bin/python -m bench.corpus_outcomes
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.mailstack import MailStack
from tests.shared_corpus import CORPUS
from tests.support.installation import config_text


def _names(files: list[Path]) -> dict[str, str]:
    """sha256 → file name, also for the bytes as Dovecot stores them (CRLF line ends)."""
    names = {}
    for path in files:
        data = path.read_bytes()
        crlf = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for variant in (data, crlf, data + b"\r\n", crlf + b"\r\n"):
            names[hashlib.sha256(variant).hexdigest()] = path.name
    return names


def main() -> None:
    files = sorted(CORPUS.glob("*.eml"))
    if not files:
        sys.exit(f"no corpus at {CORPUS}")
    with MailStack() as stack:
        support = stack.add_user("support@example.test")
        root = Path(tempfile.mkdtemp(prefix="corpus-outcomes-"))
        secret = root / "pass"
        secret.write_text(stack.password(support))
        config = root / "config.toml"
        config.write_text(config_text(stack, support, root / "triaged.db", secret))
        triaged = [str(Path(sys.executable).with_name("triaged")), "--config", str(config)]

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*triaged, *args], capture_output=True, text=True, check=False)

        run("run", "--once")  # first contact with the empty mailbox
        stack.append(support, "INBOX", [path.read_bytes() for path in files])
        cycle = run("run", "--once")
        stats = json.loads(run("stats", "--json").stdout)
        parked = json.loads(run("quarantine", "list", "--json").stdout)
    counts = stats["messages"]
    print(f"{len(files)} messages; run --once exit {cycle.returncode}; outcomes: {counts}; "
          f"accounted for: {sum(counts.values())}")
    names = _names(files)
    for row in parked:
        print(f"  quarantined {names.get(row['sha256'], row['sha256'][:12])}: {row['reason']}")


if __name__ == "__main__":
    main()
