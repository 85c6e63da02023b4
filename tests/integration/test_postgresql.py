"""triaged on PostgreSQL, end to end: the real `triaged` command against the session's
Dovecot + SMTP relay and a private PostgreSQL, one instance and then two at once.

Two instances with the same config share the work safely: one reads the mailbox (it
holds the mailbox's advisory lock), both send (each letter is claimed by one of them),
and when the reader stops, the other takes the mailbox over.
"""

from __future__ import annotations

import email
import json
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import col, select

from tests.mailstack import MailStack
from tests.support.escalation import FAST_LADDER, ROUND_THE_CLOCK, people
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged, config_text
from tests.support.mail import complaint_mail
from triaged.core.references import find_in_text
from triaged.domain.records import ComplaintState, EventKind, LetterKind, LetterState
from triaged.store.db import make_engine, transaction
from triaged.store.models import Complaint, Event, MessageRow, OutboxLetter
from triaged.usecases.escalation import EscalationReport

pytestmark = [pytest.mark.postgres, pytest.mark.mailstack]


START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
# Two daemons and their pollers share two cores with the rest of the suite.
DELIVERY_TIMEOUT = 60.0


def _parsed(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    return msg


@dataclass
class Instance:
    """One `triaged run` process and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log):
            if self.process.poll() is not None:
                raise AssertionError(f"triaged exited ({self.process.returncode}):\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} after {timeout}s:\n{self.log}")
            time.sleep(0.05)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT)


@dataclass
class Site:
    """A business whose triaged keeps its data in PostgreSQL."""

    stack: MailStack
    support: str
    team: str
    url: str
    folder: Path
    _engine: Engine | None = None
    _started: list[Instance] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.folder / "config.toml"

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def write_config(self) -> None:
        secret = self.folder / "imap.pass"
        secret.write_text(self.stack.password(self.support) + "\n")
        text = config_text(self.stack, self.support, self.folder / "unused.db", secret,
                           mailbox='processed_folder = "Triaged"',
                           tail=f'[staff]\nnotify = ["{self.team}"]\n')
        text = re.sub(r'(?m)^url = "sqlite:///.*"$', f'url = "{self.url}"', text)
        assert self.url in text
        self.config_path.write_text(text)

    def triaged(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "triaged", "--config", str(self.config_path), *args],
            capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> Instance:
        log_path = self.folder / f"instance-{len(self._started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "triaged", "--config", str(self.config_path), "run"],
                stdout=log, stderr=log)
        instance = Instance(process, log_path)
        self._started.append(instance)
        return instance

    def send_complaint(self, customer: str, subject: str) -> None:
        data = complaint_mail(customer, self.support, subject, f"{subject}: it arrived broken.")
        with smtplib.SMTP(self.stack.host, self.stack.smtp_port) as smtp:
            smtp.sendmail(customer, [self.support], data)

    def complaints(self) -> list[Complaint]:
        with transaction(self.engine) as session:
            return list(session.exec(select(Complaint).order_by(col(Complaint.id))))

    def letters(self) -> list[OutboxLetter]:
        with transaction(self.engine) as session:
            return list(session.exec(select(OutboxLetter).order_by(col(OutboxLetter.id))))

    def wait_until_sent(self, count: int) -> None:
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while True:
            letters = self.letters()
            if len(letters) >= count and all(x.state == LetterState.SENT for x in letters):
                return
            assert time.monotonic() < deadline, [(x.kind, x.state) for x in letters]
            time.sleep(0.1)

    def close(self) -> None:
        for instance in self._started:
            if instance.process.poll() is None:
                instance.process.kill()
                instance.process.wait()
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture
def site(mailstack: MailStack, support_address: str, new_address: NewAddress,
         new_pg_database: Callable[[], str], tmp_path: Path) -> Iterator[Site]:
    made = Site(mailstack, support_address, new_address("team"), new_pg_database(), tmp_path)
    made.write_config()
    yield made
    made.close()
    for instance in made._started:
        assert "Traceback" not in instance.log, instance.log


def test_run_once_on_postgresql_registers_the_complaint_and_the_customer_gets_the_reply(
    site: Site, mailstack: MailStack, new_address: NewAddress
) -> None:
    first = site.triaged("run", "--once")  # first contact: the empty mailbox is noted
    assert first.returncode == 0, first.stderr
    customer = new_address("maria")
    site.send_complaint(customer, "Cake arrived crushed")

    done = site.triaged("run", "--once")

    assert done.returncode == 0, done.stderr
    assert "1 complaint" in done.stderr
    [reply] = mailstack.wait_for_messages(customer, "INBOX", 1)
    [reference] = find_in_text(str(_parsed(reply)["Subject"]))
    [complaint] = site.complaints()
    assert complaint.reference == reference
    assert complaint.customer_email == customer
    assert complaint.state == ComplaintState.ACKNOWLEDGED
    # What operators read comes from PostgreSQL too.
    shown = site.triaged("show", reference, "--json")
    assert shown.returncode == 0, shown.stderr
    assert f'"reference": "{reference}"' in shown.stdout
    listed = site.triaged("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["reference"] == reference
    stats = site.triaged("stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["messages"]["complaint"] == 1
    checked = site.triaged("check")
    assert re.search(r"(?m)^ok\s+database\s+schema at ", checked.stdout), checked.stdout


@pytest.mark.parametrize("reader_goes", ["stops", "dies"])
def test_two_instances_on_one_postgresql_answer_every_complaint_exactly_once(
    site: Site, mailstack: MailStack, new_address: NewAddress, reader_goes: str
) -> None:
    first, second = site.start(), site.start()  # together: both migrate the empty database
    for instance in (first, second):
        instance.wait_for_log(r"triaged running")
    deadline = time.monotonic() + START_TIMEOUT
    while not any("first contact" in i.log for i in (first, second)):
        assert time.monotonic() < deadline, first.log + second.log
        time.sleep(0.05)
    reader, standby = (first, second) if "first contact" in first.log else (second, first)
    standby.wait_for_log(r"another instance is reading this mailbox")

    customers = [new_address("cust") for _ in range(36)]
    for number, customer in enumerate(customers[:18]):
        site.send_complaint(customer, f"Order {number}")
    for customer in customers[:18]:
        mailstack.wait_for_messages(customer, "INBOX", 1, timeout=DELIVERY_TIMEOUT)

    # The reader stops, or dies (SIGKILL: its sessions, and the lock, end with the
    # process); the standby takes the mailbox over and reads the rest.
    if reader_goes == "stops":
        assert reader.stop() == 0
    else:
        # Only once every letter so far is recorded as sent: a kill between SMTP's
        # acceptance and that record may send one letter twice (allowed), which
        # would hide what this test looks for.
        site.wait_until_sent(36)
        reader.process.kill()
        assert reader.process.wait(STOP_TIMEOUT) == -signal.SIGKILL
    for number, customer in enumerate(customers[18:], start=18):
        site.send_complaint(customer, f"Order {number}")
    for customer in customers[18:]:
        mailstack.wait_for_messages(customer, "INBOX", 1, timeout=DELIVERY_TIMEOUT)
    mailstack.wait_for_messages(site.team, "INBOX", 36, timeout=DELIVERY_TIMEOUT)
    standby.wait_for_log(r"the other instance let go; reading this mailbox now")
    assert standby.stop() == 0

    # Every complaint registered once, every customer answered once.
    complaints = site.complaints()
    assert sorted(c.customer_email for c in complaints) == sorted(customers)
    assert {c.state for c in complaints} == {ComplaintState.ACKNOWLEDGED}
    for customer in customers:
        [reply] = mailstack.messages(customer)
        assert _parsed(reply)["Subject"].startswith("Re: Order ")
    notices = mailstack.messages(site.team)
    assert len(notices) == 36
    # No letter went out twice: one row, one attempt and one letter_sent each, and
    # every Message-ID arrived once.
    letters = site.letters()
    assert Counter(letter.kind for letter in letters) == Counter(
        {LetterKind.HOLDING.value: 36, LetterKind.NEW_COMPLAINT.value: 36})
    assert {(letter.state, letter.attempts) for letter in letters} == {(LetterState.SENT, 1)}
    with transaction(site.engine) as session:
        sent_events = session.exec(
            select(func.count()).select_from(Event)
            .where(Event.kind == EventKind.LETTER_SENT.value)).one()
        outcomes = Counter(session.exec(select(MessageRow.outcome)).all())
    assert sent_events == 72
    assert outcomes == Counter({"complaint": 36})
    received = [_parsed(m)["Message-ID"] for c in customers for m in mailstack.messages(c)]
    received += [_parsed(m)["Message-ID"] for m in notices]
    assert len(received) == len(set(received)) == 72
    # Skipping was logged once, not at every poll.
    assert standby.log.count("another instance is reading this mailbox") == 1


def test_two_instances_escalating_at_the_same_time_tell_each_person_once(
    mailstack: MailStack, support_address: str, new_address: NewAddress,
    new_pg_database: Callable[[], str], tmp_path: Path,
) -> None:
    team, dana, ana = new_address("team"), new_address("dana"), new_address("ana")
    secret = tmp_path / "imap.pass"
    secret.write_text(mailstack.password(support_address) + "\n")
    text = config_text(mailstack, support_address, tmp_path / "unused.db", secret,
                       week=ROUND_THE_CLOCK, sla=FAST_LADDER, tail=people(team, dana, ana))
    path = tmp_path / "config.toml"
    path.write_text(re.sub(r'(?m)^url = "sqlite:///.*"$', f'url = "{new_pg_database()}"', text))
    first, second = Triaged(mailstack, support_address, path), Triaged(mailstack, support_address,
                                                                       path)
    try:
        first.cycle()  # first contact
        for number in range(3):
            customer = new_address("cust")
            data = complaint_mail(customer, support_address, f"Order {number}", "Never came.")
            with smtplib.SMTP(mailstack.host, mailstack.smtp_port) as smtp:
                smtp.sendmail(customer, [support_address], data)
        assert first.cycle().tally.counts == {"complaint": 3}

        def both_escalate(after: timedelta) -> list[EscalationReport]:
            for instance in (first, second):
                instance.clock.advance(after)
            start, reports = threading.Barrier(2), []

            def run(instance: Triaged) -> None:
                start.wait()
                reports.append(instance.app.escalator.run())

            threads = [threading.Thread(target=run, args=(t,)) for t in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            return reports

        # 8 minutes after registration the reminder is due (2 minutes before the date),
        # at 10 minutes the level-1 escalation.
        reminded = both_escalate(timedelta(minutes=9))
        escalated = both_escalate(timedelta(minutes=2))

        assert sorted(r for report in reminded for r in report.reminded) == sorted(
            c.reference for c in _complaints(first))
        assert sum(len(report.escalated) for report in escalated) == 3
        with transaction(first.app.engine) as session:
            letters = session.exec(select(OutboxLetter.kind, OutboxLetter.to_email).where(
                col(OutboxLetter.kind).in_(("reminder", "escalation")))).all()
            steps = Counter(session.exec(select(Event.complaint_id, Event.kind).where(
                col(Event.kind).in_(("reminded", "escalated")))).all())
        # One digest per person per step, whichever instance wrote it; one event each.
        assert sorted(letters) == [("escalation", dana), ("reminder", team)]
        assert sorted(steps.values()) == [1] * 6
    finally:
        first.close()
        second.close()


def _complaints(t: Triaged) -> list[Complaint]:
    with transaction(t.app.engine) as session:
        return list(session.exec(select(Complaint)))
