"""Categories and priorities on real mail: recorded, explained, and promised by their SLA."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.mail import body_text, complaint_mail, parsed, smtp_send
from triaged.store.db import transaction
from triaged.store.models import Complaint, Event

RULES = """
[[categories]]
name = "delivery"
keywords = ["not arrived", "Lieferung", "配達"]
resolve_within = "1 business day"

[[categories]]
name = "billing"
keywords = ["refund*"]

[[priorities]]
name = "urgent"
keywords = ["urgent", "dringend"]
senders = ["@vip.example"]
resolve_within = "2 business hours"
"""


def by_subject(t: Triaged) -> dict[str, tuple[Complaint, dict[str, object]]]:
    found = {}
    with transaction(t.app.engine) as session:
        for complaint in session.exec(select(Complaint)):
            [event] = session.exec(select(Event).where(Event.complaint_id == complaint.id,
                                                       Event.kind == "categorized"))
            found[complaint.subject] = (complaint, json.loads(event.detail))
    return found


def test_each_complaint_gets_the_category_priority_and_promise_its_rules_give(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    tmp_path: Path,
) -> None:
    # A business template that names the category, as a template may.
    letters = tmp_path / "letters" / "en"
    letters.mkdir(parents=True)
    (letters / "holding.subject.j2").write_text(
        "Re: {{ subject }} [{{ reference }}] ({{ category or 'general' }}, {{ priority }})")
    t = make_triaged(tail=RULES + f'\n[templates]\ndir = "{letters.parent}"\n')
    customer = new_address("sorted")
    t.cycle()
    for subject, body in [("Parcel", "My parcel has not arrived."),
                          ("Money", "I was promised a refund, this is urgent."),
                          ("Hello", "Just a question about opening hours.")]:
        smtp_send(mailstack, customer, t.support, complaint_mail(customer, t.support, subject,
                                                                 body))
    t.cycle()

    found = by_subject(t)
    parcel, parcel_rule = found["Parcel"]
    assert (parcel.category, parcel.priority) == ("delivery", "normal")
    assert parcel_rule["matched_keywords"] == ["not arrived"]
    # Monday 10:00 Bucharest + the category's 1 business day = Tuesday 10:00 (08:00 UTC).
    assert parcel.due_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    money, money_rule = found["Money"]
    assert (money.category, money.priority) == ("billing", "urgent")
    assert money_rule["priority_matched"] == "urgent"
    # The priority's 2 business hours win over the category (which sets none).
    assert money.due_at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    hello, _ = found["Hello"]
    assert (hello.category, hello.priority) == ("", "normal")
    # No rule: the [sla] default of 5 business days, skipping RO's 30 Nov and 1 Dec.
    assert hello.due_at == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)

    replies = {parsed(r)["Subject"].split(" [")[0]: parsed(r)
               for r in mailstack.wait_for_messages(customer, "INBOX", 3)}
    assert replies["Re: Parcel"]["Subject"].endswith("(delivery, normal)")
    assert replies["Re: Money"]["Subject"].endswith("(billing, urgent)")
    assert replies["Re: Hello"]["Subject"].endswith("(general, normal)")
    # The built-in body still promises the category's date.
    assert "Tuesday, November 24, 2026" in body_text(replies["Re: Parcel"])


def test_a_vip_domain_is_urgent_whatever_it_writes(
    make_triaged: Callable[..., Triaged], mailstack: MailStack,
) -> None:
    t = make_triaged(tail=RULES)
    vip = mailstack.add_user("buyer@vip.example", "pw")
    t.cycle()
    smtp_send(mailstack, vip, t.support, complaint_mail(vip, t.support, "Order", "Hello."))
    t.cycle()
    complaint, rule = by_subject(t)["Order"]
    assert complaint.priority == "urgent"
    assert rule["priority_matched"] == "@vip.example"
