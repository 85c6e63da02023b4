"""The owner's report on the real mail server: the scheduled letter arrives once per
period (across a restart), its pictures are inline parts its HTML names by cid, its text
part carries the figures, and a hostile category name stays text. Only the clock is faked."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.approval import SECRET, Shop, draft_by_email, people, reply_to
from tests.support.fixture_types import MakeTriaged, NewAddress
from tests.support.mail import body_text, parsed
from triaged.store.db import transaction
from triaged.store.models import SuppressedAddress

HOSTILE = "<b>{{ 7*7 }}</b> & Co"
BOUNCES = Path(__file__).resolve().parents[1] / "data" / "bounces"

REPORT = f"""
[report]
to = ["{{owner}}"]
every = "week"
day = "mon"
at = "08:00"

[[categories]]
name = "delivery"
keywords = ["delivered", "delivery", "geliefert"]

[[categories]]
name = "{HOSTILE}"
keywords = ["crushed", "zerdrückt"]
"""


@pytest.fixture
def owned_shop(make_triaged: MakeTriaged, new_address: NewAddress, mailstack: MailStack,
               tmp_path: Path) -> tuple[Shop, str]:
    key = tmp_path / "approval.key"
    key.write_text(SECRET + "\n")
    staff, dana, erin, boss, owner = (new_address(p)
                                      for p in ("team", "dana", "erin", "boss", "owner"))
    t = make_triaged(tail=people(staff, dana, erin, boss, key) + REPORT.replace("{owner}",
                                                                                 owner))
    t.cycle()
    return Shop(t, mailstack, staff, dana, erin, boss, new_address("maria")), owner


def _without_drawn(text: str) -> str:
    """`text` without the complaints' references and the charts' cids."""
    return re.sub(r"\b[0-9A-Z]{3}-[0-9A-Z]{4}\b|cid:[^\"]+", "", text)


def reports(shop: Shop, owner: str) -> list[EmailMessage]:
    return [parsed(m) for m in shop.stack.messages(owner)]


def test_the_weekly_report_arrives_once_with_inline_charts_and_the_figures_in_text(
    owned_shop: tuple[Shop, str],
) -> None:
    shop, owner = owned_shop
    shop.complain()  # "zerdrückt": the hostile category
    shop.complain(subject="Nicht geliefert", body="Die Torte wurde nie geliefert.")
    shop.complain(subject="Wieder nicht geliefert", body="Schon wieder nicht geliefert!")
    draft_by_email(shop)
    shop.send(shop.dana, reply_to(shop.latest(shop.dana, "Approval needed"), shop.dana,
                                  "APPROVE"))
    shop.t.cycle()
    # Monday 23 November 10:00, two hours after this week's time: last week's report
    # went at the first cycle, and last week nothing came, so it says so, without charts.
    [empty] = reports(shop, owner)
    assert "Nov 16, 2026 to Nov 22, 2026" in str(empty["Subject"])
    assert "No complaints were received in this period." in body_text(empty)
    assert not [p for p in empty.walk() if p.get_content_maintype() == "image"]

    shop.t.clock.advance(timedelta(days=7))  # Monday 30 November, 10:00 Bucharest
    shop.t.cycle()
    letter = parsed(shop.stack.wait_for_messages(owner, "INBOX", 2)[1])

    assert letter["Subject"] == ("Acme Bakery: complaints report, Nov 23, 2026 to "
                                 "Nov 29, 2026")
    assert letter["Auto-Submitted"] == "auto-generated"
    parts = list(letter.walk())
    assert [p.get_content_type() for p in parts] == [
        "multipart/alternative", "text/plain", "multipart/related", "text/html",
        "image/png", "image/png"]
    images = parts[4:]
    for image in images:
        data = image.get_payload(decode=True)
        assert isinstance(data, bytes)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    html = str(parts[3].get_content())
    cids = set(re.findall(r'src="cid:([^"]+)"', html))
    assert cids == {str(i["Content-ID"]).strip("<>") for i in images}
    alts = re.findall(r'alt="([^"]+)"', html)
    assert len(alts) == 2
    assert all(a.startswith("Bar chart") for a in alts)

    text = body_text(letter)
    assert "- Complaints received: 3." in text
    assert "- Nov 23, 2026: 3" in text
    assert "- delivery: 2 (0)" in text
    assert f"- {HOSTILE}: 1 (0)" in text
    assert "Final letter: median" in text
    assert "0 settled, 0 reopened, 0 no answer." in text
    # The open complaints, oldest first, by reference.
    assert text.count("received Nov 23, 2026") == 2
    # The hostile name is text in both parts, never a template nor markup: no "49"
    # anywhere but in what is drawn at random (references, cids) and may hold one.
    assert "49" not in _without_drawn(text)
    assert "49" not in _without_drawn(html)
    assert "&lt;b&gt;{{ 7*7 }}&lt;/b&gt; &amp; Co" in html
    assert "<b>" not in html

    shop.t.cycle()
    shop.t.restart()  # a new process, the same database
    shop.t.cycle()
    shop.t.clock.advance(timedelta(hours=5))
    shop.t.cycle()
    assert len(reports(shop, owner)) == 2  # once per period

    shop.t.clock.advance(timedelta(days=7))  # Monday 7 December: the next week's
    shop.t.cycle()
    third = parsed(shop.stack.wait_for_messages(owner, "INBOX", 3)[2])
    assert "Nov 30, 2026 to Dec 6, 2026" in str(third["Subject"])


def test_a_report_that_went_out_late_is_not_sent_a_day_after_its_time(
    owned_shop: tuple[Shop, str],
) -> None:
    shop, owner = owned_shop
    assert len(reports(shop, owner)) == 1  # Monday 23 November's, at the first cycle
    shop.t.clock.advance(timedelta(days=8, hours=1))  # Tuesday 1 December, 11:00
    shop.t.cycle()
    assert len(reports(shop, owner)) == 1  # Monday's was due more than a day ago


def test_a_bounced_report_alerts_and_the_next_report_still_goes(
    owned_shop: tuple[Shop, str],
) -> None:
    shop, owner = owned_shop
    [first] = shop.letters_to(owner)
    assert (first.kind, first.state) == ("report", "sent")
    bounce = (BOUNCES / "rfc3464-postfix.eml").read_bytes()
    shop.stack.append(shop.t.support, "INBOX", bounce.replace(b"LETTER-ID", first.message_id
                                                             .encode())
                      .replace(b"CUSTOMER", owner.encode()))

    report = shop.t.cycle()

    assert report.tally.counts == {"not_complaint": 1}
    [failed] = shop.letters_to(owner)
    assert failed.state == "failed"
    # The owner is one of the business's own addresses: an alert, never a suppression.
    with transaction(shop.t.app.engine) as session:
        [alert] = session.exec(select(SuppressedAddress)).all()
    assert (alert.email, alert.stops_mail) == (owner, False)
    shop.t.clock.advance(timedelta(days=7))
    shop.t.cycle()
    assert [(letter.kind, letter.state) for letter in shop.letters_to(owner)] == [
        ("report", "failed"), ("report", "sent")]
    assert len(shop.stack.wait_for_messages(owner, "INBOX", 2)) == 2
