"""The `triaged` command line as an operator meets it: the console script run as
a subprocess against the session's real Dovecot + SMTP relay and a temporary SQLite file.

Every CLI start costs about a second of imports, so commands that do not depend on each
other run side by side (`Install.many`).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.mailstack import MailStack
from tests.support.cli import (
    IMAP_SECRET,
    ROUND_THE_CLOCK,
    Install,
    Result,
    assert_no_traceback,
    reference_in_reply,
)
from tests.support.fixture_types import NewAddress
from tests.support.mail import complaint_mail, parsed
from tests.support.ports import dead_port
from triaged.core.references import ALPHABET, is_valid, new_reference

WRONG_SECRET = "Wr0ng-Pa55-Zk9"
LIST_KEYS = {"reference", "state", "customer", "customer_name", "subject", "language",
             "received_at", "due_at", "escalation_level"}
OUTCOMES = {"complaint", "follow_up", "not_complaint", "quarantined", "approval_reply",
            "duplicate"}


def mistyped(reference: str) -> str:
    """The reference with its first symbol replaced: Luhn mod N catches every such slip."""
    wrong = next(s for s in ALPHABET if s != reference[0] and s not in "01")
    return wrong + reference[1:]


# ---- configuration ---------------------------------------------------------------------

BAD_CONFIG = """
[business]
name = "Acme Bakery"
timezone = "Europe/Bucharestt"

[[mailboxes]]
address = "support-at-acme"
host = "imap.acme.example"
port = 99999

[smtp]
host = "smtp.acme.example"
securty = "tls"

[sla]
resolve_within = "5 fortnights"
"""
BAD_CONFIG_PROBLEMS = ["business.timezone", "mailboxes[0].address", "mailboxes[0].port",
                       "smtp.securty", "sla.resolve_within"]


def test_a_bad_config_lists_every_problem_with_its_key_path_and_exits_2(install: Install) -> None:
    path = install.dir / "bad.toml"
    path.write_text(BAD_CONFIG)

    results = install.many([(path, ["run", "--once"]), (path, ["check"]),
                            (path, ["list", "--json"])])

    for result in results:
        assert result.code == 2, result.describe()
        assert_no_traceback(result)
        assert result.out == "", "nothing on stdout for scripts to mistake for data"
        problems = [line for line in result.err.splitlines() if line.startswith("  - ")]
        assert len(problems) == len(BAD_CONFIG_PROBLEMS), result.describe()
        for key, line in zip(BAD_CONFIG_PROBLEMS, problems, strict=True):
            assert key in line, result.describe()
        assert str(path) in result.err


def test_a_missing_config_file_is_named_and_exits_2(install: Install) -> None:
    missing = install.dir / "nowhere" / "config.toml"

    result = install.run(missing, "list")

    assert result.code == 2
    assert_no_traceback(result)
    assert str(missing) in result.err
    assert "No such file" in result.err


def test_triaged_config_environment_variable_is_honoured(install: Install) -> None:
    good = install.config()
    bad = install.dir / "bad.toml"
    bad.write_text(BAD_CONFIG)

    [from_env_good] = install.many([(None, ["list", "--json"])],
                                   env={"TRIAGED_CONFIG": str(good)})
    from_env_bad, option_wins = install.many(
        [(None, ["list", "--json"]), (good, ["list", "--json"])],
        env={"TRIAGED_CONFIG": str(bad)},
    )

    assert from_env_good.json() == []
    assert install.db.exists(), "the database named by $TRIAGED_CONFIG was used"
    assert from_env_bad.code == 2, from_env_bad.describe()
    assert str(bad) in from_env_bad.err
    assert option_wins.json() == [], "--config takes precedence over $TRIAGED_CONFIG"


# ---- run --once --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "what_the_operator_reads"),
    [
        ("wrong password", "login refused"),
        ("nothing listening", "connection refused"),
    ],
)
def test_run_once_exits_1_with_one_clear_line_when_the_mailbox_is_unreachable(
    install: Install, case: str, what_the_operator_reads: str
) -> None:
    if case == "wrong password":
        path = install.config(password=WRONG_SECRET)
    else:
        path = install.config(imap_port=dead_port())

    result = install.run(path, "run", "--once")

    assert result.code == 1, result.describe()
    assert_no_traceback(result)
    about_mailbox = [line for line in result.err.splitlines() if "IMAP" in line]
    assert len(about_mailbox) == 1, result.describe()
    assert what_the_operator_reads in about_mailbox[0]
    assert "support" in about_mailbox[0], "names the mailbox"
    assert WRONG_SECRET not in result.both
    assert IMAP_SECRET not in result.both


# ---- one office, its mail processed by the CLI; then the read-side commands -------------


@dataclass
class Office:
    """A support mailbox after three `run --once` cycles, and what the read commands said."""

    install: Install
    maria: str  # complained; her complaint is overdue (due 1 business second later)
    junho: str  # complained later under a config promising 5 business days
    maria_ref: str
    junho_ref: str
    unknown: str  # a well-formed reference of no complaint
    robot: str  # sent an out-of-office reply
    garbage: bytes  # a message with no sender: quarantined
    cycles: list[Result]
    maria_sent: datetime
    out: dict[str, Result]


UNREACHABLE = "nobody-here@example.test"  # no such Dovecot user: our letter gets a 550


def _read_commands(office: Office) -> dict[str, list[str]]:
    return {
        "list": ["list", "--json"],
        "list human": ["list"],
        "acknowledged": ["list", "--state", "acknowledged", "--json"],
        "received": ["list", "--state", "received", "--json"],
        "overdue": ["list", "--overdue", "--json"],
        "show": ["show", office.maria_ref, "--json"],
        "show human": ["show", office.maria_ref.lower().replace("-", "")],
        "mistyped": ["show", mistyped(office.maria_ref)],
        "unknown": ["show", office.unknown, "--json"],
        "stats": ["stats", "--json"],
        "quarantine": ["quarantine", "list", "--json"],
        "check": ["check"],
    }


@pytest.fixture(scope="module")
def office(mailstack: MailStack, tmp_path_factory: pytest.TempPathFactory) -> Office:
    tag = os.urandom(3).hex()
    users = {n: mailstack.add_user(f"{n}-cli-{tag}@{mailstack.domain}",
                                   IMAP_SECRET if n == "support" else "pw")
             for n in ("support", "maria", "junho", "robot")}
    install = Install(mailstack, users["support"], tmp_path_factory.mktemp("office"))
    fast = install.config("fast.toml", calendar=ROUND_THE_CLOCK,
                          resolve_within="1 business second")
    slow = install.config("slow.toml")
    install.cycle(fast)  # first contact: the empty mailbox is noted

    install.send(users["maria"], "Cake arrived crushed", "The birthday cake was crushed.",
                 name="Maria Popescu")
    install.send(UNREACHABLE, "Where is my order", "Nobody can reach me.")
    robot = complaint_mail(users["robot"], install.support, "Out of office", "I am away",
                           Auto_Submitted="auto-replied")
    garbage = b"Subject: no sender here\r\n\r\nbody\r\n"
    twice = complaint_mail(users["junho"], install.support, "Two times", "Sent twice.")
    mailstack.append(install.support, "INBOX", [robot, garbage])
    maria_sent = datetime.now().astimezone()
    cycles = [install.run(fast, "run", "--once")]
    done = time.monotonic()

    maria_ref = reference_in_reply(mailstack, users["maria"])
    holding = parsed(mailstack.messages(users["maria"])[0])
    follow_up = complaint_mail(users["maria"], install.support, f"Re: {holding['Subject']}",
                               "It was the chocolate one.", In_Reply_To=holding["Message-ID"])
    mailstack.append(install.support, "INBOX", [follow_up, twice, twice])
    assert install.cycle(slow).ok
    junho_ref = reference_in_reply(mailstack, users["junho"])

    unknown = new_reference()
    while unknown in (maria_ref, junho_ref):
        unknown = new_reference()
    time.sleep(max(0.0, done + 1.2 - time.monotonic()))  # Maria's 1 business second is over
    result = Office(install, users["maria"], users["junho"], maria_ref, junho_ref, unknown,
                    users["robot"], garbage, cycles, maria_sent, {})
    commands = _read_commands(result)
    outputs = install.many([(slow, args) for args in commands.values()])
    result.out = dict(zip(commands, outputs, strict=True))
    return result


def test_run_once_exits_0_when_the_cycle_ran_even_if_a_letter_failed_for_good(
    office: Office,
) -> None:
    [cycle] = office.cycles
    assert cycle.code == 0, cycle.describe()
    assert_no_traceback(cycle)
    assert "failed for good" in cycle.err, "the operator is told which letter failed"
    show = office.out["received"].json()
    [unreachable] = show
    assert unreachable["customer"] == UNREACHABLE
    assert unreachable["state"] == "received", "never acknowledged: the letter bounced at SMTP"


def test_list_json_describes_each_complaint(office: Office) -> None:
    rows = office.out["list"].json()

    assert isinstance(rows, list)
    assert [r["customer"] for r in rows] == [office.maria, UNREACHABLE, office.junho]
    for row in rows:
        assert set(row) >= LIST_KEYS
        assert is_valid(row["reference"])
    maria = rows[0]
    assert maria["reference"] == office.maria_ref
    assert maria["state"] == "acknowledged"
    assert maria["customer_name"] == "Maria Popescu"
    assert maria["subject"] == "Cake arrived crushed"
    assert maria["language"] == "en"
    assert maria["escalation_level"] == 0
    received = datetime.fromisoformat(maria["received_at"])
    assert received.utcoffset() is not None, "timestamps carry their zone"
    assert abs(received - office.maria_sent) < timedelta(seconds=30)
    # Round the clock: one business second is one real second.
    assert datetime.fromisoformat(maria["due_at"]) - received == timedelta(seconds=1)
    junho = rows[2]
    assert junho["reference"] == office.junho_ref
    assert datetime.fromisoformat(junho["due_at"]) - received > timedelta(days=5)


def test_list_filters_by_state_and_overdue(office: Office) -> None:
    acknowledged = [r["reference"] for r in office.out["acknowledged"].json()]
    overdue = [r["reference"] for r in office.out["overdue"].json()]
    unreachable = [r for r in office.out["list"].json() if r["customer"] == UNREACHABLE]

    assert acknowledged == [office.maria_ref, office.junho_ref]
    # Maria's second has passed, the unreachable customer's too; Junho has 5 business days.
    assert overdue == [office.maria_ref, unreachable[0]["reference"]]
    human = office.out["list human"]
    assert human.code == 0
    assert office.maria_ref in human.out
    assert "acknowledged" in human.out


def test_list_refuses_an_unknown_state(install: Install) -> None:
    result = install.run(install.config(), "list", "--state", "pending")

    assert result.code == 2
    assert "acknowledged" in result.err, "lists the states that exist"
    assert_no_traceback(result)


def test_show_json_has_the_messages_letters_and_events(office: Office) -> None:
    shown = office.out["show"].json()

    assert isinstance(shown, dict)
    assert shown["reference"] == office.maria_ref
    assert [m["outcome"] for m in shown["messages"]] == ["complaint", "follow_up"]
    assert "chocolate" in shown["messages"][1]["text"]
    [letter] = shown["letters"]
    assert letter["kind"] == "holding"
    assert letter["state"] == "sent"
    assert letter["to"] == office.maria
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[0] == "registered"
    assert {"letter_queued", "letter_sent", "state_changed", "follow_up"} <= set(kinds)
    human = office.out["show human"]
    assert human.code == 0, "a reference typed in lower case without its hyphen is found"
    assert office.maria_ref in human.out
    assert "Maria Popescu" in human.out


def test_show_a_mistyped_reference_says_the_check_character_does_not_match(
    office: Office,
) -> None:
    result = office.out["mistyped"]

    assert result.code == 2, result.describe()
    assert "check character does not match" in result.err
    assert mistyped(office.maria_ref) in result.err
    assert f"did you mean {office.maria_ref}" in result.err, "the complaint meant is offered"
    assert_no_traceback(result)


def test_list_has_a_header_row_and_local_promised_times_with_their_zone(office: Office) -> None:
    human = office.out["list human"]
    rows = office.out["list"].json()

    header, *lines = human.out.splitlines()
    assert header.split()[:3] == ["REFERENCE", "STATE", "PROMISED"]
    assert len(lines) == len(rows)
    customer_column = header.index("CUSTOMER")
    subject_column = header.index("SUBJECT")
    for line, row in zip(lines, rows, strict=True):
        assert line[customer_column:].startswith(row["customer"]), "aligned under its header"
        assert line[subject_column:].startswith(row["subject"][:20])
        # The instant the letters promise: the business's wall clock, rounded up, zone named.
        due = datetime.fromisoformat(row["due_at"]).astimezone(ZoneInfo("Europe/Bucharest"))
        rounded = due if due == due.replace(minute=0, second=0, microsecond=0) \
            else due.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        assert f"{rounded:%Y-%m-%d %H:00 %Z}" in line, line
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", human.out), "no ISO machine look"


def test_show_prints_local_times_without_microseconds_and_events_as_lines(
    office: Office,
) -> None:
    out = office.out["show human"].out

    assert "promised by " in out
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d+", out), "no microseconds"
    assert "{'" not in out, "no Python dict reprs"
    assert "': " not in out
    assert "received → acknowledged" in out
    events = out.split("\nevents:\n", 1)[1].splitlines()
    assert events[0].split() == ["AT", "EVENT", "BY", "WHAT"]
    assert any(" registered " in line for line in events)
    assert all(re.match(r"  \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} EE[S]?T ", line)
               for line in events[1:]), events


def test_help_shows_flags_as_flags(install: Install) -> None:
    top, run = install.many([(None, ["--help"]), (None, ["run", "--help"])])

    for result in (top, run):
        assert result.code == 0, result.describe()
        assert "<bool>" not in result.out, result.out
    assert re.search(r"^\s+--once\s+One full cycle", run.out, re.MULTILINE)
    assert re.search(r"^\s+--include-existing\s+With --once", run.out, re.MULTILINE)
    assert re.search(r"-v, --verbose\s+Debug logging", top.out)


def test_show_an_unknown_reference_exits_1(office: Office) -> None:
    result = office.out["unknown"]

    assert result.code == 1, result.describe()
    assert office.unknown in result.err
    assert result.out == ""
    assert_no_traceback(result)


def test_stats_json_counts_messages_by_outcome(office: Office) -> None:
    stats = office.out["stats"].json()

    messages = stats["messages"]
    assert set(messages) >= OUTCOMES
    assert {k: messages[k] for k in OUTCOMES} == {
        "complaint": 3, "follow_up": 1, "not_complaint": 1, "quarantined": 1,
        "approval_reply": 0, "duplicate": 1,
    }
    # Maria's and the unreachable customer's dates have passed with no final letter.
    assert stats["answered_on_time"] == {"on_time": 0, "late": 2, "share": 0.0}
    assert stats["overdue_now"]["count"] == 2
    assert stats["time_to_resolution_seconds"] == {"count": 0, "median": None, "p90": None}
    assert stats["time_to_holding_reply_seconds"]["count"] == 2
    assert stats["top_categories_this_week"] == []


def test_quarantine_list_json_names_each_entry_with_its_reason(office: Office) -> None:
    [entry] = office.out["quarantine"].json()

    assert set(entry) >= {"id", "message_id", "sha256", "reason", "received_at"}
    assert "sender" in entry["reason"]
    import hashlib

    assert entry["sha256"] == hashlib.sha256(office.garbage).hexdigest()
    assert datetime.fromisoformat(entry["received_at"]).utcoffset() is not None


def test_check_against_the_real_stack_is_all_ok(office: Office) -> None:
    result = office.out["check"]

    assert result.code == 0, result.describe()
    rows = {line.split()[1]: line.split()[0] for line in result.out.splitlines() if line}
    # No approval key and no managers: approval by email is off, which is worth a warning.
    assert rows == {"config": "ok", "database": "ok", "mailbox": "ok", "smtp": "ok",
                    "approval": "warn", "templates": "ok"}
    [key] = [line for line in result.out.splitlines() if "approval key" in line]
    assert "set approval.secret_file" in key
    # Every letter kind is rendered, not only the holding reply.
    [english] = [line for line in result.out.splitlines() if "templates en" in line]
    assert "holding" in english
    assert "extension, final, satisfaction, reminder, escalation" in english
    [german] = [line for line in result.out.splitlines() if "templates de" in line]
    assert "extension" in german
    assert "final, satisfaction" in german
    assert IMAP_SECRET not in result.both


# ---- quarantine --------------------------------------------------------------------------


def _quarantine_one(install: Install, path: Path) -> dict[str, Any]:
    """Run a cycle; the one quarantine entry it made."""
    assert install.cycle(path).ok
    [entry] = install.run(path, "quarantine", "list", "--json").json()
    assert isinstance(entry, dict)
    return entry


def test_quarantine_show_prints_the_raw_message_and_discard_closes_the_entry(
    install: Install,
) -> None:
    path = install.config()
    install.cycle(path)
    raw = b"Subject: =?utf-8?q?r=C3=A9clamation?= without a sender\r\n\r\nle g\xc3\xa2teau\r\n"
    install.stack.append(install.support, "INBOX", raw)
    entry = str(_quarantine_one(install, path)["id"])

    shown, unknown = install.many([(path, ["quarantine", "show", entry]),
                                   (path, ["quarantine", "show", "9999"])])
    discarded = install.run(path, "quarantine", "discard", entry)
    after, again = install.many([(path, ["quarantine", "list", "--json"]),
                                 (path, ["quarantine", "discard", entry])])

    assert shown.code == 0, shown.describe()
    assert shown.out.replace("\n", "\r\n").encode().startswith(raw.rstrip(b"\r\n"))
    assert "sender" in shown.err, "the reason is told beside the raw bytes"
    assert unknown.code == 1
    assert "9999" in unknown.err
    assert discarded.code == 0, discarded.describe()
    assert after.json() == [], "a discarded entry leaves the list"
    assert again.code == 1, again.describe()
    assert "already discarded" in again.err
    assert_no_traceback(again)


BROKEN_HOLDING = "Dear {{ customer_nickname }},\n"  # no such variable: rendering fails


def test_quarantine_replay_after_a_fix_turns_the_message_into_a_complaint(
    install: Install, new_address: NewAddress
) -> None:
    overrides = install.dir / "templates"
    (overrides / "en").mkdir(parents=True)
    broken = overrides / "en" / "holding.txt.j2"
    broken.write_text(BROKEN_HOLDING)
    path = install.config(tail=f'[templates]\ndir = "{overrides}"\n')
    install.cycle(path)
    customer = new_address("replay")
    install.send(customer, "Wrong order", "I got someone else's order.")
    entry = _quarantine_one(install, path)
    assert "customer_nickname" in entry["reason"], "the reason names what went wrong"
    assert install.stack.messages(customer) == []

    broken.unlink()  # the operator fixes the template
    replayed = install.run(path, "quarantine", "replay", str(entry["id"]))
    cycle = install.run(path, "run", "--once")
    complaints, waiting, stats = install.many([
        (path, ["list", "--json"]), (path, ["quarantine", "list", "--json"]),
        (path, ["stats", "--json"]),
    ])

    assert replayed.code == 0, replayed.describe()
    assert "complaint" in replayed.out, replayed.describe()
    assert cycle.code == 0
    [complaint] = complaints.json()
    assert complaint["customer"] == customer
    assert reference_in_reply(install.stack, customer) == complaint["reference"]
    assert waiting.json() == []
    assert stats.json()["messages"]["complaint"] == 1
    # The mail is counted once, by what its replay made of it.
    assert stats.json()["messages"]["quarantined"] == 0


# ---- check and demo ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broken", "failing_row", "what_it_says"),
    [
        ("smtp port", "smtp", "connect"),
        ("imap password", "mailbox", "login refused"),
        ("holding template", "templates", "customer_nickname"),
    ],
)
def test_check_exits_1_and_names_the_check_that_failed(
    install: Install, broken: str, failing_row: str, what_it_says: str
) -> None:
    overrides = install.dir / "templates"
    (overrides / "en").mkdir(parents=True)
    (overrides / "en" / "holding.txt.j2").write_text(BROKEN_HOLDING)
    path = install.config(
        smtp_port=dead_port() if broken == "smtp port" else None,
        password=WRONG_SECRET if broken == "imap password" else IMAP_SECRET,
        tail=f'[templates]\ndir = "{overrides}"\n' if broken == "holding template" else "",
    )

    result = install.run(path, "check")

    assert result.code == 1, result.describe()
    rows = [line.split(maxsplit=2) for line in result.out.splitlines() if line.strip()]
    failed = [row[1] for row in rows if row[0] == "FAIL"]
    assert failed == [failing_row], result.describe()
    [line] = [line for line in result.out.splitlines() if line.startswith("FAIL")]
    assert what_it_says in line
    assert "b'" not in line, "the server's words, not a byte string"
    assert 'b"' not in line
    assert {row[1] for row in rows} >= {"config", "database", "mailbox", "smtp", "templates"}
    assert WRONG_SECRET not in result.both
    assert IMAP_SECRET not in result.both
    assert_no_traceback(result)


def test_demo_tells_the_whole_story_with_references_and_a_promised_date(
    install: Install,
) -> None:
    result = install.run(None, "demo", env={"TMPDIR": str(install.dir)}, timeout=120)

    assert result.code == 0, result.describe()
    assert_no_traceback(result)
    bracketed = re.findall(r"\[([0-9A-Z]{3}-[0-9A-Z]{4})\]", result.out)
    assert bracketed, result.out
    assert all(is_valid(ref) for ref in bracketed)
    # The promise as `list` and the letters show it: local, on the hour, with its zone.
    assert re.search(r"promised by \d{4}-\d{2}-\d{2} \d{2}:00 EES?T \(Europe/Bucharest\)",
                     result.out), result.out
    assert re.search(r", \d{1,2} [AP]M \(Romania Time\) at the latest",
                     " ".join(result.out.split())), "the holding reply: on the hour, zone named"
    # The final letter: drafted by staff, a forgery refused, approved by Dana's reply.
    assert "carries no approval token" in result.out
    assert "This is what we have done to put it right:" in result.out
    assert "We will bake a new cake and deliver it free of charge" in result.out
    # Maria's photo reaches staff with the new-complaint notice, byte for byte.
    assert "attached: crushed-cake.jpg (1130 bytes)" in result.out
    assert "Maria's photo reached staff byte for byte" in result.out
    # Everything it made stays inside the temporary folder it names.
    kept = re.search(r"Everything is kept in (\S+)\.", result.out)
    assert kept
    assert Path(kept.group(1)).is_relative_to(install.dir)
    shutil.rmtree(kept.group(1))


# ---- the first hour: mail already waiting when triaged first looks -------------------------


def test_the_first_run_says_how_many_messages_it_left_alone_and_how_to_answer_them(
    install: Install, new_address: NewAddress,
) -> None:
    path = install.config()
    customers = [new_address(f"early{i}") for i in range(3)]
    for i, customer in enumerate(customers):
        install.send(customer, f"Test complaint {i}", "Trying triaged out.")
    install.stack.wait_for_messages(install.support, "INBOX", 3)

    before = install.run(path, "check")
    first = install.run(path, "run", "--once")

    assert before.code == 0, before.describe()
    [row] = [line for line in before.out.splitlines() if "mailbox support" in line]
    assert row.startswith("warn"), row
    assert "3 messages are already in the folder" in row
    assert 'start = "all"' in row
    assert "--include-existing" in row
    assert first.code == 0, first.describe()
    assert "cycle done: no new mail" in first.err
    hint = [line for line in first.err.splitlines() if "left alone" in line]
    # Once in the log, once after the summary where it cannot be missed.
    assert len(hint) == 2, first.describe()
    assert all("3 messages were already in the mailbox when triaged first looked" in line
               and "triaged run --once --include-existing" in line for line in hint)
    assert all(install.stack.messages(c) == [] for c in customers)

    after = install.run(path, "check")
    taken = install.run(path, "run", "--once", "--include-existing")
    again = install.run(path, "run", "--once")

    [row] = [line for line in after.out.splitlines() if "mailbox support" in line]
    assert "3 messages were already in the mailbox" in row, after.describe()
    assert taken.code == 0, taken.describe()
    assert "3 complaint" in taken.err
    for customer in customers:
        reference_in_reply(install.stack, customer)  # each got its holding reply
    assert "left alone" not in again.both
    assert "cycle done: no mail" in again.err
    wrong = install.run(path, "run", "--include-existing")
    assert wrong.code == 2, wrong.describe()
    assert "--once" in wrong.err
