"""A backlog read batch after batch while the mailbox changes under it.

The first look at the folder finds the whole backlog; the batches after it are
fetched from what that look found. Mail that arrives meanwhile, and a message
another mail client deletes meanwhile, must still end as they should: the new
mail read in the same poll, the deleted one skipped, every other one once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from tests.mailstack import MailStack
from tests.support.daemon import Setup
from tests.support.fixture_types import NewAddress
from tests.support.mail import complaint_mail
from triaged import app as wiring
from triaged.adapters.ports import Batch, Cursor
from triaged.config.loading import load
from triaged.daemon.cycle import run_cycle

BACKLOG = 30


def test_mail_arriving_and_deleted_during_a_backlogs_poll_ends_right(
    setup: Setup, new_address: NewAddress, mailstack: MailStack, monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup.write_config(idle=False)
    setup.config_path.write_text(setup.config_path.read_text()
                                 + "\n[limits]\nauto_letters_per_hour = 0\n")
    app = wiring.build(load(setup.config_path))
    try:
        assert run_cycle(app).ok  # first contact with the empty mailbox
        customers = [new_address("backlog") for _ in range(BACKLOG)]
        mailstack.append(setup.support, "INBOX", [
            complaint_mail(c, setup.support, f"complaint {n}", f"text {n}")
            for n, c in enumerate(customers)])
        late = [new_address("late") for _ in range(2)]
        deleted = customers[20]
        source = app.pollers[0].source
        fetch_new = source.fetch_new
        batches: list[Sequence[int]] = []

        def meanwhile(cursor: Cursor, limit: int) -> Batch:
            if len(batches) == 1:
                # After the first batch: two customers write, and someone deletes the
                # 21st message of the backlog with another mail client.
                mailstack.append(setup.support, "INBOX", [
                    complaint_mail(c, setup.support, "late one", "arrived mid-poll")
                    for c in late])
                client = mailstack.imap_client(setup.support)
                try:
                    client.select_folder("INBOX")
                    uid = mailstack.folder_uids(setup.support).uids[20]
                    client.delete_messages([uid])
                    client.expunge()
                finally:
                    client.logout()
            batch = fetch_new(cursor, limit)
            batches.append([raw.uid for raw in batch.messages])
            return batch

        monkeypatch.setattr(source, "fetch_new", meanwhile)
        report = run_cycle(app)
    finally:
        app.close()

    assert len([b for b in batches if b]) >= 3, "the backlog took several batches"
    expected = [c for c in customers if c != deleted] + late
    assert report.tally.counts == {"complaint": len(expected)}
    complaints = setup.complaints()
    assert Counter(c.customer_email for c in complaints) == Counter(expected)
    assert Counter(letter.to_email for letter in setup.letters()) == Counter(expected)
    uids = [uid for batch in batches for uid in batch]
    assert uids == sorted(set(uids)), "every message read once, in order"
