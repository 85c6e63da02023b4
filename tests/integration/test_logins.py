"""Modern mail logins end to end: XOAUTH2 with a token from a command, and passwords from a
command, against a mail stack that demands them (Dovecot checks tokens through its oauth2
passdb and the stack's introspection endpoint; the SMTP relay requires AUTH).

Tokens expire within the hour, so triaged must run the token command at every login,
never keep a token, and never print one.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mailstack import MailStack
from tests.support.cli import IMAP_SECRET, Install, assert_no_traceback
from tests.support.mail import complaint_mail, parsed
from triaged import app as wiring
from triaged.config.loading import load
from triaged.core.references import find_in_text
from triaged.daemon.cycle import run_cycle

# Prints the token the test put in <which>.token and counts its runs in runs.log;
# "fail" in the file makes it fail the way a token helper does when it cannot refresh.
TOKEN_SCRIPT = """\
echo "$1" >> runs.log
token=$(cat "$1.token")
if [ "$token" = fail ]; then echo "refresh token revoked" >&2; exit 3; fi
printf '%s\\n' "$token"
"""


@pytest.fixture(scope="module")
def auth_stack() -> Iterator[MailStack]:
    """A mail stack whose SMTP server refuses to relay without AUTH."""
    with MailStack(smtp_auth=True) as stack:
        yield stack


class Office:
    """A support mailbox on the AUTH-demanding stack, configured by `config()`."""

    def __init__(self, stack: MailStack, folder: Path, name: str) -> None:
        self.stack = stack
        self.name = name
        self.support = stack.add_user(f"support-{name}@{stack.domain}", IMAP_SECRET)
        self.install = Install(stack, self.support, folder)
        self.dir = folder
        (folder / "token.sh").write_text(TOKEN_SCRIPT)
        (folder / "imap.pass").write_text(IMAP_SECRET + "\n")

    def config(self, logins: str) -> Path:
        """`logins` is "oauth2" or "password_command", for both IMAP and SMTP."""
        if logins == "oauth2":
            imap = 'oauth2_token_command = ["sh", "token.sh", "imap"]'
            smtp = 'oauth2_token_command = ["sh", "token.sh", "smtp"]'
        else:
            imap = smtp = 'password_command = ["cat", "imap.pass"]'
        path = self.dir / "config.toml"
        path.write_text(f"""
[business]
name = "Acme Bakery"
timezone = "Europe/Bucharest"
working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
working_hours = ["00:00", "24:00"]
country = ""

[[mailboxes]]
name = "support"
address = "{self.support}"
host = "{self.stack.host}"
port = {self.stack.imap_port}
security = "plain"
{imap}

[smtp]
host = "{self.stack.host}"
port = {self.stack.smtp_port}
security = "plain"
username = "{self.support}"
timeout = "5s"
{smtp}

[database]
url = "sqlite:///{self.dir / 'triaged.db'}"
""")
        return path

    def tokens(self, imap: str, smtp: str) -> None:
        (self.dir / "imap.token").write_text(imap + "\n")
        (self.dir / "smtp.token").write_text(smtp + "\n")

    def token_runs(self) -> list[str]:
        runs = self.dir / "runs.log"
        return runs.read_text().split() if runs.exists() else []

    def customer(self, prefix: str) -> str:
        return self.stack.add_user(f"{prefix}-{self.name}@{self.stack.domain}")

    def complain(self, customer: str, subject: str) -> None:
        # Straight into the mailbox: this relay takes mail only from logged-in users.
        self.stack.append(self.support, "INBOX",
                          complaint_mail(customer, self.support, subject, "It broke."))

    def holding_reply_to(self, customer: str) -> str:
        """The reference in the holding reply the customer got."""
        [reply] = self.stack.wait_for_messages(customer, "INBOX", 1)
        [reference] = find_in_text(str(parsed(reply)["Subject"]))
        return reference


_numbers = itertools.count(1)


@pytest.fixture
def office(auth_stack: MailStack, tmp_path: Path) -> Office:
    return Office(auth_stack, tmp_path, str(next(_numbers)))


def first_contact(office: Office, path: Path) -> None:
    """The first cycle only notes the (empty) mailbox: later mail is new mail."""
    assert office.install.cycle(path).ok


def test_run_once_reads_and_answers_with_xoauth2_tokens_for_imap_and_smtp(
    office: Office, auth_stack: MailStack
) -> None:
    imap_token, smtp_token = (auth_stack.oauth2.grant(office.support) for _ in range(2))
    office.tokens(imap_token, smtp_token)
    path = office.config("oauth2")
    first_contact(office, path)
    customer = office.customer("cust-oauth")
    office.complain(customer, "Cake arrived crushed")
    asked_before = auth_stack.oauth2.introspections

    # --verbose: even debug logging must not show a token (nor the XOAUTH2 string).
    result = office.install.run(path, "--verbose", "run", "--once")

    assert result.code == 0, result.describe()
    assert_no_traceback(result)
    # stderr is not a terminal: the lines are JSON ([logging] format = "auto").
    assert '"level": "debug"' in result.err, "debug logging was on"
    reference = office.holding_reply_to(customer)
    [sent] = [e for e in auth_stack.smtp_received if customer in e.rcpt_tos]
    assert sent.auth_login == office.support, "the letter went out over an XOAUTH2 login"
    assert auth_stack.oauth2.introspections > asked_before, "Dovecot checked the IMAP token"
    [complaint] = office.install.run(path, "list", "--json").json()
    assert complaint["reference"] == reference
    assert {"imap", "smtp"} <= set(office.token_runs())
    for token in (imap_token, smtp_token):
        assert token not in result.both
        xoauth2 = f"user={office.support}\x01auth=Bearer {token}\x01\x01".encode()
        assert base64.b64encode(xoauth2).decode() not in result.both
        assert base64.b64encode(token.encode()).decode()[:20] not in result.both


def test_a_fresh_token_is_fetched_for_every_login_as_the_old_one_expires(
    office: Office, auth_stack: MailStack
) -> None:
    first = auth_stack.oauth2.grant(office.support), auth_stack.oauth2.grant(office.support)
    office.tokens(*first)
    path = office.config("oauth2")
    app = wiring.build(load(path))
    try:
        assert run_cycle(app).ok
        runs_at_start = len(office.token_runs())
        before = office.customer("cust-before")
        office.complain(before, "Before the rotation")
        assert run_cycle(app).ok
        office.holding_reply_to(before)

        # An hour later: the provider has expired both tokens and the helper prints new
        # ones. The same process must log in again (IMAP after a dropped connection, SMTP
        # at its next delivery) with the new tokens.
        for token in first:
            auth_stack.oauth2.revoke(token)
        office.tokens(auth_stack.oauth2.grant(office.support),
                      auth_stack.oauth2.grant(office.support))
        app.close()  # the IMAP connection drops, as servers do after a while
        after = office.customer("cust-after")
        office.complain(after, "After the rotation")
        report = run_cycle(app)
    finally:
        app.close()
        app.engine.dispose()

    assert report.ok, report.failures
    office.holding_reply_to(after)
    runs = office.token_runs()
    assert runs[runs_at_start:].count("imap") >= 1, "IMAP logged in again with a new token"
    assert runs.count("smtp") >= 2, "each SMTP login asked for a token"


@pytest.mark.parametrize("trouble", ["expired token", "token command fails"])
@pytest.mark.parametrize("server", ["IMAP", "SMTP"])
def test_a_refused_token_is_one_clear_line_and_exit_1(
    office: Office, auth_stack: MailStack, server: str, trouble: str
) -> None:
    good = auth_stack.oauth2.grant(office.support), auth_stack.oauth2.grant(office.support)
    office.tokens(*good)
    path = office.config("oauth2")
    first_contact(office, path)
    customer = office.customer(f"cust-{server.lower()}")
    office.complain(customer, "Where is my order")
    bad = auth_stack.oauth2.grant(office.support)
    auth_stack.oauth2.revoke(bad)  # a token that was valid once: expired
    broken = bad if trouble == "expired token" else "fail"
    office.tokens(broken if server == "IMAP" else good[0],
                  broken if server == "SMTP" else good[1])

    result = office.install.run(path, "run", "--once")

    assert result.code == 1, result.describe()
    assert_no_traceback(result)
    about = [line for line in result.err.splitlines() if server in line]
    assert len(about) == 1, result.describe()
    expected = "login refused" if trouble == "expired token" else "exited with status 3"
    assert expected in about[0], result.describe()
    if trouble == "token command fails":
        assert "oauth2_token_command" in about[0], "names the key to look at"
        assert "refresh token revoked" in about[0], "passes on the helper's own reason"
    for token in (*good, bad):
        assert token not in result.both
    if server == "SMTP":
        # The mail was read and registered; the holding reply waits for a working login.
        [complaint] = office.install.run(path, "list", "--json").json()
        [letter] = office.install.run(path, "show", complaint["reference"],
                                      "--json").json()["letters"]
        assert letter["state"] == "queued"
        assert auth_stack.messages(customer) == []


def test_passwords_from_commands_log_in_to_imap_and_smtp(
    office: Office, auth_stack: MailStack
) -> None:
    path = office.config("password_command")
    first_contact(office, path)
    customer = office.customer("cust-pw")
    office.complain(customer, "Wrong cake")

    result = office.install.run(path, "run", "--once")

    assert result.code == 0, result.describe()
    office.holding_reply_to(customer)
    [sent] = [e for e in auth_stack.smtp_received if customer in e.rcpt_tos]
    assert sent.auth_login == office.support, "SMTP AUTH with the password from the command"
    assert IMAP_SECRET not in result.both


def test_check_logs_in_with_xoauth2_without_sending(office: Office, auth_stack: MailStack) -> None:
    token = auth_stack.oauth2.grant(office.support)
    office.tokens(token, token)
    path = office.config("oauth2")
    sent_before = len(auth_stack.smtp_received)

    result = office.install.run(path, "check", "--json")

    checks = {c["check"]: c for c in json.loads(result.out)["checks"]}
    assert "XOAUTH2" in checks["mailbox support"]["detail"], result.describe()
    assert "XOAUTH2" in checks["smtp"]["detail"], result.describe()
    assert checks["mailbox support"]["result"] == "ok"
    assert checks["smtp"]["result"] == "ok"
    assert len(auth_stack.smtp_received) == sent_before, "check sends nothing"
    assert token not in result.both


def test_check_fails_the_smtp_row_when_its_token_is_refused(
    office: Office, auth_stack: MailStack
) -> None:
    good, expired = auth_stack.oauth2.grant(office.support), auth_stack.oauth2.grant(
        office.support)
    auth_stack.oauth2.revoke(expired)
    office.tokens(good, expired)
    path = office.config("oauth2")

    result = office.install.run(path, "check", "--json")

    assert result.code == 1, result.describe()
    checks = {c["check"]: c for c in json.loads(result.out)["checks"]}
    failed = {name for name, c in checks.items() if c["result"] == "FAIL"}
    assert failed == {"smtp"}, result.describe()
    assert checks["smtp"]["detail"].startswith("SMTP login refused: 535"), result.describe()
    assert good not in result.both
    assert expired not in result.both
