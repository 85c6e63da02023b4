"""The config loader: defaults, every kind of mistake with its key path, secrets, paths."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.config_values import MINIMAL, problems_of, with_values
from triaged.config import records as config_records
from triaged.config import secrets as config_secrets
from triaged.config.loading import default_path, from_mapping, load
from triaged.config.records import Config
from triaged.config.secrets import Secret
from triaged.domain.durations import parse_duration
from triaged.domain.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

MINIMAL_TOML = """
[business]
name = "Acme Bakery"

[[mailboxes]]
address = "support@acme.example"
host = "imap.acme.example"

[smtp]
host = "smtp.acme.example"

[database]
url = "sqlite:////var/lib/triaged/triaged.db"
"""

def get(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return value


# -- a minimal file works, with the documented defaults ----------------------------


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("business.timezone", "UTC"),
        ("business.country", ""),
        ("business.subdivision", ""),
        ("business.working_days", (0, 1, 2, 3, 4)),
        ("business.working_hours", (9 * 60, 17 * 60)),
        ("business.language", "en"),
        ("business.closed_dates", ()),
        ("mailboxes.0.name", "support@acme.example"),
        ("mailboxes.0.port", 993),
        ("mailboxes.0.security", "tls"),
        ("mailboxes.0.username", "support@acme.example"),
        ("mailboxes.0.password", None),
        ("mailboxes.0.folder", "INBOX"),
        ("mailboxes.0.processed_folder", "Triaged"),
        ("mailboxes.0.poll_interval", timedelta(seconds=60)),
        ("mailboxes.0.idle", True),
        ("mailboxes.0.start", "now"),
        ("mailboxes.0.maildir", ""),
        ("smtp.port", 587),
        ("smtp.security", "starttls"),
        ("smtp.username", ""),
        ("smtp.password", None),
        ("smtp.timeout", timedelta(seconds=30)),
        ("smtp.max_attempts", 8),
        ("smtp.deliver_to_maildir", ""),
        ("database.url", "sqlite:////var/lib/triaged/triaged.db"),
        ("sla.resolve_within", parse_duration("5 business days")),
        ("sla.remind_before", parse_duration("1 business day")),
        ("sla.escalate_every", parse_duration("1 business day")),
        ("sla.top_level_every", parse_duration("1 day")),
        ("sla.notify_outside_working_hours", False),
        ("categories", ()),
        ("priorities", ()),
        ("staff.notify", ()),
        ("staff.forwarders", ()),
        ("managers", ()),
        ("approval.secret", None),
        ("approval.token_ttl", parse_duration("14 days")),
        ("approval.require_authentication_results", False),
        ("approval.authserv_id", ""),
        ("templates.dir", ""),
        ("limits.auto_letters_per_day", 3),
        ("limits.raw_max", 25 * 1024 * 1024),
        ("limits.auto_letters_per_hour", 100),
        ("limits.staff_notices_per_hour", 5),
        ("limits.dotless_domains", frozenset({"gmail.com", "googlemail.com"})),
        ("limits.message_budget", 10.0),
        ("limits.stops_before_quarantine", 3),
    ],
)
def test_a_minimal_file_loads_with_the_spec_defaults(
    tmp_path: Path, attribute: str, expected: Any
) -> None:
    file = tmp_path / "config.toml"
    file.write_text(MINIMAL_TOML)
    config = load(file)
    assert get(config, attribute) == expected
    assert config.path == str(file)


def test_the_database_url_has_a_default() -> None:
    config = from_mapping(with_values(MINIMAL, database=...), Path("/etc/triaged"))
    assert config.database.url == "sqlite:////var/lib/triaged/triaged.db"


@pytest.mark.parametrize(
    ("section", "security", "port"),
    [
        ("mailboxes__0", "tls", 993),
        ("mailboxes__0", "starttls", 143),
        ("mailboxes__0", "plain", 143),
        ("smtp", "tls", 465),
        ("smtp", "starttls", 587),
        ("smtp", "plain", 25),
    ],
)
def test_the_default_port_follows_the_security(section: str, security: str, port: int) -> None:
    config = from_mapping(with_values(MINIMAL, **{f"{section}__security": security}), Path("/"))
    chosen = config.mailboxes[0] if section.startswith("mailboxes") else config.smtp
    assert chosen.port == port


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        ("business__working_days", ["fri", "mon", "fri"], "business.working_days", (0, 4)),
        ("business__working_days", ["Saturday", "sun"], "business.working_days", (5, 6)),
        ("business__working_hours", ["00:00", "24:00"], "business.working_hours", (0, 1440)),
        ("business__working_hours", ["08:30", "12:15"], "business.working_hours", (510, 735)),
        ("business__closed_dates", ["2025-12-31", date(2025, 12, 24)],
         "business.closed_dates", (date(2025, 12, 24), date(2025, 12, 31))),
        ("business__country", "ro", "business.country", "RO"),
        ("business__subdivision", "", "business.subdivision", ""),
        ("business__language", "pt-BR", "business.language", "pt-BR"),
        ("mailboxes__0__poll_interval", "5 minutes", "mailboxes.0.poll_interval",
         timedelta(minutes=5)),
        ("mailboxes__0__oauth2_token_command", ["oauth2-token", "support"],
         "mailboxes.0.oauth2_token_command", ("oauth2-token", "support")),
        ("sla__resolve_within", "3 business hours", "sla.resolve_within",
         parse_duration("3 business hours")),
        ("staff__notify", ["team@acme.example"], "staff.notify", ("team@acme.example",)),
        ("database__url", "postgresql+psycopg://triaged@db/triaged", "database.url",
         "postgresql+psycopg://triaged@db/triaged"),
    ],
)
def test_values_are_stored_in_their_typed_form(
    key: str, value: Any, attribute: str, expected: Any
) -> None:
    config = from_mapping(with_values(MINIMAL, **{key: value}), Path("/"))
    assert get(config, attribute) == expected


def test_business_zone_is_a_zoneinfo() -> None:
    config = from_mapping(with_values(MINIMAL, business__timezone="Asia/Seoul"), Path("/"))
    assert config.business.zone == ZoneInfo("Asia/Seoul")


def test_the_config_cannot_be_changed_after_loading() -> None:
    config = from_mapping(MINIMAL, Path("/"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.smtp.port = 25  # type: ignore[misc]


# -- every kind of mistake, with its key path ---------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mailboxes__0__port": "993"}, "mailboxes[0].port: expected an integer"),
        ({"mailboxes__0__port": True}, "mailboxes[0].port: expected an integer"),
        ({"mailboxes__0__port": 70000}, "mailboxes[0].port: expected an integer between 1 and"),
        ({"smtp__port": 0}, "smtp.port: expected an integer between 1 and 65535"),
        ({"business__timezone": "Europe/Bucharestt"},
         "business.timezone: unknown time zone 'Europe/Bucharestt'"),
        ({"smtp__security": "ssl"}, "smtp.security: expected one of tls, starttls, plain"),
        ({"mailboxes__0__security": "TLS"},
         "mailboxes[0].security: expected one of tls, starttls, plain"),
        ({"business__name": ...}, "business.name: required key is missing"),
        ({"business__name": 7}, "business.name: expected a string"),
        ({"business__name": "  "}, "business.name: must not be empty"),
        ({"business__country": "XX"}, "business.country: unknown country 'XX'"),
        ({"business__country": "US", "business__subdivision": "ZZ"},
         "business.subdivision: unknown subdivision 'ZZ' of US"),
        ({"business__subdivision": "CA"}, "business.subdivision: a subdivision needs"),
        ({"business__working_days": ["mon", "funday"]},
         "business.working_days: unknown day 'funday'"),
        ({"business__working_days": []}, "business.working_days: expected at least one"),
        ({"business__working_days": "mon-fri"}, "business.working_days: expected a list"),
        ({"business__working_hours": ["17:00", "09:00"]},
         "business.working_hours: closing time '09:00' must be after opening time '17:00'"),
        ({"business__working_hours": ["9am", "5pm"]},
         "business.working_hours: expected a time as HH:MM, got '9am'"),
        ({"business__working_hours": ["24:00", "24:00"]},
         "business.working_hours: expected a time from 00:00 to 23:59"),
        ({"business__working_hours": ["09:00", "24:30"]},
         "business.working_hours: expected a time from 00:00 to 24:00"),
        ({"business__working_hours": ["09:00"]}, "business.working_hours: expected two times"),
        ({"business__closed_dates": ["2025-12-24", "2025-02-30"]},
         "business.closed_dates[1]: expected an ISO date"),
        ({"business__language": "english!"}, "business.language: expected a language tag"),
        ({"mailboxes__0__address": "support"},
         "mailboxes[0].address: expected an email address"),
        ({"mailboxes__0__address": ...}, "mailboxes[0].address: required key is missing"),
        ({"mailboxes__0__host": ...}, "mailboxes[0].host: required key is missing"),
        ({"mailboxes__0__start": "yesterday"}, "mailboxes[0].start: expected one of now, all"),
        ({"mailboxes__0__idle": "yes"}, "mailboxes[0].idle: expected true or false"),
        ({"mailboxes__0__folder": ""}, "mailboxes[0].folder: must not be empty"),
        ({"mailboxes__0__poll_interval": "soon"},
         "mailboxes[0].poll_interval: expected a duration"),
        ({"mailboxes__0__poll_interval": "1 business day"},
         "mailboxes[0].poll_interval: expected a calendar duration"),
        ({"mailboxes__0__poll_interval": "0s"},
         "mailboxes[0].poll_interval: expected a duration longer than zero"),
        ({"mailboxes__0__password_command": "pass show imap"},
         "mailboxes[0].password_command: expected a command as a list of strings"),
        ({"mailboxes__0__password_command": []},
         "mailboxes[0].password_command: expected a command as a list of strings"),
        ({"smtp__host": ...}, "smtp.host: required key is missing"),
        ({"smtp__timeout": "2 business hours"}, "smtp.timeout: expected a calendar duration"),
        ({"smtp__max_attempts": 0}, "smtp.max_attempts: expected an integer of at least 1"),
        ({"database__url": "mysql://db/triaged"},
         "database.url: expected a sqlite or postgresql URL"),
        ({"database__url": "not a url"}, "database.url: not a database URL"),
        ({"sla__resolve_within": "5 busines days"}, "sla.resolve_within: expected a duration"),
        ({"sla__remind_before": "1 business dai"}, "sla.remind_before: unknown time unit"),
        ({"sla__escalate_every": 3}, "sla.escalate_every: expected a string"),
        ({"staff__notify": ["team"]}, "staff.notify[0]: expected an email address"),
        ({"staff__forwarders": "owner@acme.example"}, "staff.forwarders: expected a list"),
        ({"managers": [{"email": "dana@acme.example", "level": 0}]},
         "managers[0].level: expected an integer of at least 1"),
        ({"managers": [{"name": "Dana"}]}, "managers[0].email: required key is missing"),
        ({"approval__require_authentication_results": True},
         "approval.authserv_id: required when require_authentication_results = true"),
        ({"approval__token_ttl": "forever"}, "approval.token_ttl: expected a duration"),
        ({"templates__dir": "/nonexistent/templates"},
         "templates.dir: no such folder '/nonexistent/templates'"),
        ({"limits__auto_letters_per_day": 0},
         "limits.auto_letters_per_day: expected an integer of at least 1"),
        ({"limits__raw_max": "lots"}, "limits.raw_max: expected a size such as '25 MB'"),
        ({"limits__raw_max": "1 KB"}, "limits.raw_max: expected at least 16,384 bytes"),
        ({"limits__raw_max": 1000000}, "limits.raw_max: expected a string"),
        ({"limits__auto_letters_per_hour": -1},
         "limits.auto_letters_per_hour: expected an integer of at least 0"),
        ({"limits__staff_notices_per_hour": 0},
         "limits.staff_notices_per_hour: expected an integer of at least 1"),
        ({"limits__dotless_domains": ["gmail.com", "someone@gmail.com"]},
         "limits.dotless_domains[1]: expected a mail domain"),
        ({"limits__dotless_domains": "gmail.com"}, "limits.dotless_domains: expected a list"),
        ({"limits__message_budget": "0s"},
         "limits.message_budget: expected a duration longer than zero"),
        ({"limits__message_budget": "1 business day"},
         "limits.message_budget: expected a calendar duration"),
        ({"limits__stops_before_quarantine": 0},
         "limits.stops_before_quarantine: expected an integer of at least 1"),
        ({"mailboxes": []}, "mailboxes: at least one [[mailboxes]] table is required"),
        ({"mailboxes": ...}, "mailboxes: at least one [[mailboxes]] table is required"),
        ({"mailboxes": {"address": "support@acme.example"}},
         "mailboxes: expected an array of tables ([[mailboxes]])"),
        ({"smtp": [{"host": "smtp.acme.example"}]}, "smtp: expected a table ([smtp])"),
        ({"categories": [{"keywords": ["late"]}]}, "categories[0].name: required key"),
        ({"categories": [{"name": "delivery"}]}, "categories[0].keywords: required"),
        ({"categories": [{"name": "delivery", "keywords": ["late", ""]}]},
         "categories[0].keywords[1]: expected a word or phrase"),
        ({"categories": [{"name": "delivery", "keywords": ["late"],
                          "resolve_within": "3 bizness days"}]},
         "categories[0].resolve_within: expected a duration"),
        ({"categories": [{"name": "delivery", "keywords": ["late"], "keyword": ["x"]}]},
         "unknown key 'categories[0].keyword' (did you mean 'categories[0].keywords'?)"),
        ({"categories": [{"name": "a", "keywords": ["x"]}, {"name": "a", "keywords": ["y"]}]},
         "categories[1].name: 'a' is already the name of rule 0"),
        ({"priorities": [{"name": "vip"}]},
         "priorities[0].keywords: set keywords or senders"),
        ({"priorities": [{"name": "vip", "senders": ["boss"]}]},
         "priorities[0].senders[0]: expected an address such as 'name@example.com' or a whole"),
        ({"priorities": [{"name": "normal", "keywords": ["x"]}]},
         "priorities[0].name: 'normal' is the priority of complaints no rule matches"),
        ({"sla__notify_outside_working_hours": "yes"},
         "sla.notify_outside_working_hours: expected true or false"),
    ],
)
def test_each_mistake_is_reported_alone_with_its_key_path(
    changes: dict[str, Any], expected: str
) -> None:
    problems = problems_of(with_values(MINIMAL, **changes))
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"mailbox": {"host": "x"}}, "unknown key 'mailbox' (did you mean 'mailboxes'?)"),
        ({"smtp__hots": "x"}, "unknown key 'smtp.hots' (did you mean 'smtp.host'?)"),
        ({"mailboxes__0__pasword_file": "x"},
         "unknown key 'mailboxes[0].pasword_file' (did you mean 'mailboxes[0].password_file'?)"),
        ({"business__holidays": "RO"}, "unknown key 'business.holidays'"),
        ({"name": "Acme"}, "unknown key 'name'"),
    ],
)
def test_unknown_keys_are_problems(changes: dict[str, Any], expected: str) -> None:
    assert problems_of(with_values(MINIMAL, **changes)) == [expected]


def test_every_problem_is_reported_at_once() -> None:
    data = with_values(
        MINIMAL,
        business__timezone="Mars/Olympus",
        mailboxes__0__port="993",
        smtp__security="ssl",
        staff__notify=["team"],
        mailbox={},
    )
    with pytest.raises(ConfigError) as caught:
        from_mapping(data, Path("/"))
    problems = caught.value.problems
    assert [p.split(":")[0] for p in problems] == [
        "business.timezone", "mailboxes[0].port", "smtp.security", "staff.notify[0]",
        "unknown key 'mailbox' (did you mean 'mailboxes'?)",
    ]
    assert str(caught.value).splitlines() == problems


def test_mailbox_names_must_be_unique() -> None:
    second = {"name": "support", "address": "sales@acme.example", "maildir": "/srv/mail"}
    data = with_values(MINIMAL, mailboxes__0__name="support")
    data["mailboxes"].append(second)
    assert problems_of(data) == ["mailboxes[1].name: 'support' is already the name of mailboxes[0]"]


def test_a_maildir_mailbox_and_a_maildir_outbox_need_no_servers(tmp_path: Path) -> None:
    data = with_values(
        MINIMAL,
        mailboxes__0__host=...,
        mailboxes__0__maildir="inbox",
        smtp__host=...,
        smtp__deliver_to_maildir="/srv/outgoing",
    )
    config = from_mapping(data, tmp_path)
    assert config.mailboxes[0].maildir == str(tmp_path / "inbox")
    assert config.smtp.deliver_to_maildir == "/srv/outgoing"


# -- reading the file ---------------------------------------------------------------


def test_a_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load(missing)
    assert caught.value.problems == [
        f"{missing}: cannot read the configuration file: No such file or directory"
    ]


def test_invalid_toml_is_one_problem_with_its_line_number(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text('[business]\nname = "Acme"\ntimezone = Europe/Bucharest\n')
    with pytest.raises(ConfigError) as caught:
        load(file)
    [problem] = caught.value.problems
    assert problem.startswith(f"{file}: invalid TOML: ")
    assert "line 3" in problem


def test_default_path_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIAGED_CONFIG", raising=False)
    assert default_path() == Path("/etc/triaged/config.toml")
    monkeypatch.setenv("TRIAGED_CONFIG", "/srv/triaged.toml")
    assert default_path() == Path("/srv/triaged.toml")


# -- secrets ------------------------------------------------------------------------

SECRET = "hunter2-Zq9"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f"{SECRET}\n", SECRET),
        (f"{SECRET}\r\n", SECRET),
        (SECRET, SECRET),
        (f"{SECRET} \n\n", f"{SECRET} \n"),
    ],
)
def test_password_file_is_read_with_one_trailing_newline_dropped(
    tmp_path: Path, content: str, expected: str
) -> None:
    (tmp_path / "imap.pass").write_text(content, newline="")
    config = from_mapping(with_values(MINIMAL, mailboxes__0__password_file="imap.pass"), tmp_path)
    assert config.mailboxes[0].password == Secret(expected)
    assert config.mailboxes[0].password is not None
    assert config.mailboxes[0].password.reveal() == expected


def test_password_command_runs_without_a_shell_in_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "smtp.pass").write_text(f"  {SECRET}\n")
    data = with_values(MINIMAL, smtp__password_command=["cat", "smtp.pass"])
    config = from_mapping(data, tmp_path)
    assert config.smtp.password is not None
    assert config.smtp.password.reveal() == SECRET


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("mailboxes__0__password_file", "missing.pass",
         "mailboxes[0].password_file: cannot read secret file '{dir}/missing.pass': "
         "No such file or directory"),
        ("smtp__password_file", "empty.pass", "smtp.password_file: secret file '{dir}/empty.pass' "
         "is empty"),
        ("smtp__password_command", ["no-such-program-xyz"],
         "smtp.password_command: command `no-such-program-xyz` not found"),
        ("smtp__password_command", ["true"], "smtp.password_command: command `true` printed "
         "nothing"),
        ("approval__secret_file", "approval.key",
         "approval.secret_file: cannot read secret file '{dir}/approval.key'"),
    ],
)
def test_unusable_secrets_are_problems_naming_the_file_or_command(
    tmp_path: Path, key: str, value: Any, expected: str
) -> None:
    (tmp_path / "empty.pass").write_text("\n")
    [problem] = problems_of(with_values(MINIMAL, **{key: value}), tmp_path)
    assert problem.startswith(expected.format(dir=tmp_path))
    assert SECRET not in problem


def test_a_failing_command_shows_its_error_output_and_status(tmp_path: Path) -> None:
    data = with_values(
        MINIMAL, smtp__password_command=["sh", "-c", "echo 'not in the store' >&2; exit 1"]
    )
    [problem] = problems_of(data, tmp_path)
    assert problem.endswith("exited with status 1: not in the store")


def test_a_command_that_prints_the_secret_on_stderr_does_not_leak_it(tmp_path: Path) -> None:
    script = tmp_path / "leaky.sh"
    script.write_text(f"#!/bin/sh\necho {SECRET}\necho 'bad: {SECRET}' >&2\nexit 2\n")
    script.chmod(0o755)
    [problem] = problems_of(with_values(MINIMAL, smtp__password_command=["./leaky.sh"]), tmp_path)
    assert problem == "smtp.password_command: command `./leaky.sh` exited with status 2"


def test_a_command_that_hangs_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_secrets, "COMMAND_TIMEOUT_SECONDS", 0.2)
    [problem] = problems_of(with_values(MINIMAL, smtp__password_command=["sleep", "5"]), tmp_path)
    assert problem == "smtp.password_command: command `sleep 5` did not finish within 0.2 seconds"


def test_password_file_and_command_together_are_a_problem(tmp_path: Path) -> None:
    data = with_values(
        MINIMAL, mailboxes__0__password_file="imap.pass",
        mailboxes__0__password_command=["pass", "show", "imap"],
    )
    assert problems_of(data, tmp_path) == [
        "mailboxes[0].password_command: set either password_file or password_command, not both"
    ]


def test_secrets_never_appear_in_any_repr(tmp_path: Path) -> None:
    for name in ("imap.pass", "approval.key"):
        (tmp_path / name).write_text(f"{SECRET}\n")
    data = with_values(
        MINIMAL,
        mailboxes__0__password_file="imap.pass",
        smtp__password_command=["printf", SECRET + "-smtp"],
        approval__secret_file="approval.key",
        database__url=f"postgresql+psycopg://triaged:{SECRET}@db/triaged",
    )
    config = from_mapping(data, tmp_path)
    shown = [repr(config), str(config), repr(config.mailboxes), repr(config.smtp),
             repr(config.approval), repr(config.database), str(config.smtp.password),
             f"{config.approval.secret}",
             repr(dataclasses.asdict(config)).replace(config.database.url, "")]
    for text in shown:
        assert SECRET not in text
    assert "Secret('***')" in repr(config.smtp)
    assert "triaged:***@db" in repr(config.database)
    assert config.database.url.endswith(f":{SECRET}@db/triaged")
    assert config.approval.secret is not None
    assert config.approval.secret.reveal() == SECRET


# -- relative paths ------------------------------------------------------------------


def test_relative_paths_are_resolved_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    (folder / "secrets").mkdir(parents=True)
    (folder / "secrets" / "imap.pass").write_text(f"{SECRET}\n")
    (folder / "letters").mkdir()
    (folder / "config.toml").write_text(
        MINIMAL_TOML.replace('host = "imap.acme.example"', 'maildir = "mail/support"')
        .replace("sqlite:////var/lib/triaged/triaged.db", "sqlite:///state/triaged.db")
        + '\n[templates]\ndir = "letters"\n'
        + '\n[approval]\nsecret_file = "secrets/imap.pass"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load("../etc/config.toml")
    assert config.path == str(folder / "config.toml")
    assert config.mailboxes[0].maildir == str(folder / "mail" / "support")
    assert config.database.url == f"sqlite:///{folder}/state/triaged.db"
    assert config.templates.dir == str(folder / "letters")
    assert config.approval.secret == Secret(SECRET)


# -- the documented example ---------------------------------------------------------


def example_with_secrets(tmp_path: Path) -> str:
    """config.example.toml with its /etc/triaged secret files pointed at real tmp files."""
    text = (REPO / "config.example.toml").read_text()
    for name in re.findall(r'"/etc/triaged/([\w.]+)"', text):
        (tmp_path / name).write_text(f"{SECRET}\n")
    return text.replace('"/etc/triaged/', f'"{tmp_path}/')


def test_the_example_config_loads(tmp_path: Path) -> None:
    file = tmp_path / "config.toml"
    file.write_text(example_with_secrets(tmp_path))
    config = load(file)
    assert config.business.name == "Acme Bakery"
    assert config.business.zone == ZoneInfo("Europe/Bucharest")
    assert [m.level for m in config.managers] == [1, 2]
    assert config.mailboxes[0].password == Secret(SECRET)
    assert config.approval.secret == Secret(SECRET)


def commented_examples() -> list[tuple[str, str]]:
    """Each `# key = value` line of the example, with the table it sits in."""
    found: list[tuple[str, str]] = []
    table = ""
    for line in (REPO / "config.example.toml").read_text().splitlines():
        if header := re.match(r"^\[\[?(\w+)\]\]?", line):
            table = header[1]
        elif re.match(r"^# [a-z0-9_]+ = ", line):
            found.append((table, line[2:]))
    return found


@pytest.mark.parametrize(("table", "line"), commented_examples())
def test_every_commented_example_line_is_a_key_the_loader_knows(table: str, line: str) -> None:
    [(key, value)] = tomllib.loads(line).items()
    data = with_values(MINIMAL)
    section = data["mailboxes"][0] if table == "mailboxes" else data.setdefault(table, {})
    section[key] = value
    try:
        from_mapping(data, Path("/nonexistent"))
        problems: list[str] = []
    except ConfigError as error:
        problems = error.problems
    assert not [p for p in problems if p.startswith("unknown key")], problems


def documented_keys() -> dict[str, set[str]]:
    """Every key the example names, set or commented out, by table."""
    keys: dict[str, set[str]] = {}
    table = ""
    for line in (REPO / "config.example.toml").read_text().splitlines():
        if header := re.match(r"^\[\[?(\w+)\]\]?", line):
            table = header[1]
        elif key := re.match(r"^(?:# )?([a-z0-9_]+) = ", line):
            keys.setdefault(table, set()).add(key[1])
    return keys


# Record fields that are written differently in the file.
KEYS_FOR_FIELD = {
    "password": {"password_file", "password_command"},
    "secret": {"secret_file"},
    # Not a key: the config file's own folder, where commands run.
    "command_dir": set(),
}


@pytest.mark.parametrize(
    ("table", "record"),
    [
        ("business", "BusinessConfig"), ("mailboxes", "MailboxConfig"), ("smtp", "SmtpConfig"),
        ("database", "DatabaseConfig"), ("sla", "SlaConfig"), ("staff", "StaffConfig"),
        ("managers", "ManagerConfig"), ("approval", "ApprovalConfig"),
        ("templates", "TemplatesConfig"), ("limits", "LimitsConfig"),
        ("categories", "CategoryRule"), ("priorities", "PriorityRule"),
    ],
)
def test_the_example_documents_every_key(table: str, record: str) -> None:
    record_type = getattr(config_records, record)
    expected: set[str] = set()
    for field in dataclasses.fields(record_type):
        expected |= KEYS_FOR_FIELD.get(field.name, {field.name})
    assert documented_keys()[table] == expected


def test_category_and_priority_rules_are_read_in_file_order() -> None:
    data = with_values(
        MINIMAL,
        categories=[{"name": "delivery", "keywords": ["late", "配達"],
                     "resolve_within": "3 business days"},
                    {"name": "billing", "keywords": ["refund*"]}],
        priorities=[{"name": "vip", "senders": ["Boss@Client.example", "@chain.example"]},
                    {"name": "urgent", "keywords": ["urgent"],
                     "resolve_within": "4 business hours"}],
    )
    config = from_mapping(data, Path("/"))
    assert [c.name for c in config.categories] == ["delivery", "billing"]
    assert config.categories[0].keywords == ("late", "配達")
    assert config.categories[0].resolve_within == parse_duration("3 business days")
    assert config.categories[1].resolve_within is None
    assert config.priorities[0].senders == ("boss@client.example", "@chain.example")
    assert config.priorities[1].resolve_within == parse_duration("4 business hours")


def test_a_subdivision_of_the_configured_country_is_accepted() -> None:
    data = with_values(MINIMAL, business__country="US", business__subdivision="CA")
    business = from_mapping(data, Path("/")).business
    assert (business.country, business.subdivision) == ("US", "CA")


# -- OAuth2 token commands ------------------------------------------------------------


def test_oauth2_token_commands_are_kept_to_run_at_each_login_in_the_config_folder(
    tmp_path: Path,
) -> None:
    # `false` would fail if run: a token command is not run while loading.
    data = with_values(MINIMAL, mailboxes__0__oauth2_token_command=["false"],
                       smtp__username="support@acme.example",
                       smtp__oauth2_token_command=["./token", "smtp"])
    config = from_mapping(data, tmp_path)
    assert config.mailboxes[0].oauth2_token_command == ("false",)
    assert config.smtp.oauth2_token_command == ("./token", "smtp")
    assert config.mailboxes[0].command_dir == config.smtp.command_dir == str(tmp_path)
    assert config.smtp.password is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"smtp__username": "s@acme.example", "smtp__password_command": ["echo", "pw"],
          "smtp__oauth2_token_command": ["token"]},
         ["smtp.oauth2_token_command: set either a password or oauth2_token_command, not both"]),
        ({"smtp__oauth2_token_command": ["token"]},
         ["smtp.username: required with oauth2_token_command (the account the token belongs "
          "to)"]),
        ({"mailboxes__0__password_file": "missing.pass",
          "mailboxes__0__oauth2_token_command": ["token"]},
         ["mailboxes[0].password_file: cannot read secret file",
          "mailboxes[0].oauth2_token_command: set either a password or oauth2_token_command, "
          "not both"]),
        ({"smtp__oauth2_token_command": "oama access s@acme.example"},
         ["smtp.oauth2_token_command: expected a command as a list of strings"]),
    ],
)
def test_oauth2_token_command_mistakes_are_problems(
    tmp_path: Path, changes: dict[str, Any], expected: list[str]
) -> None:
    problems = problems_of(with_values(MINIMAL, **changes), tmp_path)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


def test_the_approval_key_file_is_remembered_for_check(tmp_path: Path) -> None:
    (tmp_path / "approval.key").write_text("k" * 64 + "\n")
    config = from_mapping(with_values(MINIMAL, approval__secret_file="approval.key"), tmp_path)
    assert config.approval.secret_file == str(tmp_path / "approval.key")
