"""A bug while one message of a batch is written: that message alone is undone and
quarantined, its neighbours are registered and answered once.

A batch is written in one transaction without a savepoint per message; a
message that fails mid-way (here: after its complaint and message rows were
written) makes the batch be rolled back and written again, each message in a
savepoint. The bug is planted in the step that keeps a message's files, so it
strikes after the first writes; the mail, Dovecot and SMTP are real.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from tests.mailstack import MailStack
from tests.support.daemon import Setup
from tests.support.fixture_types import NewAddress
from tests.support.mail import complaint_mail
from triaged import app as wiring
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle
from triaged.usecases.intake import files
from triaged.usecases.intake.arrival import Arrival
from triaged.usecases.intake.desk import Desk

EXPLODES = "the one that explodes"


def test_a_bug_on_one_message_quarantines_it_and_keeps_the_rest_of_its_batch(
    setup: Setup, new_address: NewAddress, mailstack: MailStack,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    setup.write_config(idle=False)
    app = wiring.build(load(setup.config_path))
    try:
        assert run_cycle(app).ok  # first contact with the empty mailbox
        customers = [new_address("batch") for _ in range(5)]
        subjects = ["first", "second", EXPLODES, "fourth", "fifth"]
        mailstack.append(setup.support, "INBOX", [
            complaint_mail(customer, setup.support, subject, f"text of {subject}")
            for customer, subject in zip(customers, subjects, strict=True)])
        keep = files.keep

        def buggy(desk: Desk, msg: Arrival, complaint_id: int, row_id: int) -> None:
            if msg.mail.subject == EXPLODES:
                raise RuntimeError("planted bug")
            keep(desk, msg, complaint_id, row_id)

        monkeypatch.setattr(files, "keep", buggy)
        report = run_cycle(app)
    finally:
        app.close()

    assert report.tally.counts == {"complaint": 4, "quarantined": 1}
    assert len(report.tally.references) == 4
    assert "written again message by message" in caplog.text
    complaints = setup.complaints()
    assert sorted(c.subject for c in complaints) == sorted(s for s in subjects if s != EXPLODES)
    letters = setup.letters()
    assert Counter(letter.to_email for letter in letters) == Counter(
        c for c, s in zip(customers, subjects, strict=True) if s != EXPLODES)
    assert {letter.state for letter in letters} == {"sent"}
    with sqlite3.connect(setup.db) as db:
        rows = [row[1:] for row in db.execute(
            "SELECT m.raw, m.outcome, m.complaint_id, q.reason FROM message m "
            "LEFT JOIN quarantine q ON q.message_row_id = m.id") if EXPLODES.encode() in row[0]]
    assert len(rows) == 1, "the failing message is stored once, as quarantined"
    outcome, complaint_id, reason = rows[0]
    assert (outcome, complaint_id) == ("quarantined", None)
    assert reason == "internal error: RuntimeError: planted bug"
    assert len(mailstack.wait_for_messages(customers[3], count=1)) == 1
