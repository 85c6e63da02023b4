"""SIGKILL at random points while the daemon ingests a few hundred messages.

The mail arrives in waves; after each wave the daemon is killed with SIGKILL
a random moment later (while it fetches, commits, moves or sends) and started
again. At the end every complaint exists exactly once, the inbox is empty,
every customer was answered, and at most one letter per kill went out twice.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.daemon import Setup, wait_first_contact
from tests.support.fixture_types import NewAddress
from tests.support.leases import cycle_past_the_lease
from tests.support.mail import complaint_mail
from triaged.store.db import make_engine, transaction
from triaged.store.models import MessageRow

# Two complaints per customer: within the daily limit, so every one is answered.
WAVES, PER_WAVE, CUSTOMERS = 6, 60, 180


def outcomes(installed: Setup) -> Counter[str]:
    engine = make_engine(f"sqlite:///{installed.db}")
    try:
        with transaction(engine) as session:
            return Counter(row.outcome for row in session.exec(select(MessageRow)))
    finally:
        engine.dispose()


def test_sigkill_at_random_points_loses_and_duplicates_no_complaint(
    setup: Setup, new_address: NewAddress, mailstack: MailStack
) -> None:
    rng = random.Random(20261203)
    setup.write_config(poll="1s", idle=True)
    # 360 customers' complaints within minutes are the load under test here, not a
    # flood to refuse: no overall hourly cap on holding replies.
    setup.config_path.write_text(setup.config_path.read_text()
                                 + "\n[limits]\nauto_letters_per_hour = 0\n")
    daemon = setup.start()
    wait_first_contact(daemon)
    customers = [new_address("crashcust") for _ in range(CUSTOMERS)]
    kills: list[float] = []
    done: list[int] = []  # complaints of the wave committed when it was killed
    number = 0
    for wave in range(WAVES):
        batch = []
        for _ in range(PER_WAVE):
            customer = customers[number % CUSTOMERS]
            batch.append(complaint_mail(customer, setup.support, f"complaint {number}",
                                        f"text {number}"))
            number += 1
        mailstack.append(setup.support, "INBOX", batch)
        if wave == WAVES - 1:
            break  # the last wave is left to finish
        # Kill once the daemon is at work on the wave: a random moment after its
        # first complaint of the wave is committed (fetching, committing the
        # rest, moving them, or sending their letters).
        started = time.monotonic()
        while outcomes(setup)["complaint"] <= wave * PER_WAVE:
            assert time.monotonic() - started < 30, "the daemon never started on the wave"
            time.sleep(0.005)
        pause = rng.uniform(0.0, 0.25)
        time.sleep(pause)
        daemon.signal(signal.SIGKILL)
        daemon.process.wait(10)
        kills.append(round(pause, 3))
        done.append(outcomes(setup)["complaint"] - wave * PER_WAVE)
        daemon = setup.start()

    total = WAVES * PER_WAVE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        waiting = [letter for letter in setup.letters() if letter.state == "queued"]
        if outcomes(setup)["complaint"] >= total and not waiting:
            break
        time.sleep(0.2)
    assert daemon.stop() == 0
    cycle_past_the_lease(setup.config_path)

    complaints = setup.complaints()
    subjects = Counter(c.subject for c in complaints)
    assert len(complaints) == total, f"kills at {kills}"
    assert max(subjects.values()) == 1, "no complaint registered twice"
    assert outcomes(setup)["complaint"] == total
    assert mailstack.folder_uids(setup.support, "INBOX").uids == []
    letters = setup.letters()
    assert len(letters) == total, "one holding reply queued per complaint"
    assert {letter.state for letter in letters} == {"sent"}
    delivered = sum(len(mailstack.messages(c)) for c in customers)
    print(f"\ncrash test: {len(kills)} SIGKILLs {kills} s into a wave, with {done} of "
          f"its {PER_WAVE} complaints committed; outcomes "
          f"{dict(outcomes(setup))}; {delivered} letters delivered for {total} complaints")
    assert total <= delivered <= total + len(kills), (
        f"{delivered} letters delivered for {total} complaints, kills at {kills}")
