"""A business's own template folder adds a language and overrides a letter, end to end.

`tests/data/business_templates` holds what a business would write: a
Vietnamese holding reply (a language triaged does not ship) and its own
wording for the English holding reply's text part only. On the real mail
stack, a Vietnamese complaint is then recognised as Vietnamese and answered
in it with the date written the Vietnamese way, and an English one gets the
business's text with the built-in subject and HTML part.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.mail import body_text, complaint_mail, parsed, smtp_send
from triaged.core.references import find_in_text

FOLDER = Path(__file__).resolve().parent.parent / "data" / "business_templates"


def test_a_business_folder_adds_vietnamese_and_rewords_the_english_holding_reply(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
) -> None:
    t = make_triaged(tail=f'\n[templates]\ndir = "{FOLDER}"\n')
    t.cycle()  # first contact
    an, mary = new_address("an"), new_address("mary")
    smtp_send(mailstack, an, t.support, complaint_mail(
        an, t.support, "Bánh sinh nhật bị móp",
        "Bánh sinh nhật tôi đặt giao đến bị móp hết, không dùng được. "
        "Tôi muốn được hoàn tiền.", name="Nguyễn Thị Ánh"))
    smtp_send(mailstack, mary, t.support, complaint_mail(
        mary, t.support, "Cake arrived crushed",
        "The birthday cake I ordered arrived crushed. I would like a refund.",
        name="Mary Jones"))

    assert t.cycle().tally.counts == {"complaint": 2}

    [vietnamese] = [parsed(m) for m in mailstack.wait_for_messages(an, "INBOX", 1)]
    assert vietnamese["Content-Language"] == "vi"
    [reference] = find_in_text(str(vietnamese["Subject"]))
    assert str(vietnamese["Subject"]) == f"Re: Bánh sinh nhật bị móp [{reference}]"
    text = " ".join(body_text(vietnamese).split())
    assert text.startswith("Kính gửi quý khách Nguyễn Thị Ánh,")
    # Monday 23 November, 10:00 + 5 business days (30 Nov and 1 Dec are holidays in RO).
    assert "chậm nhất vào Thứ Tư, 2 tháng 12, 2026, lúc 10:00 (Giờ Romania)." in text
    assert reference in text

    [english] = [parsed(m) for m in mailstack.wait_for_messages(mary, "INBOX", 1)]
    assert english["Content-Language"] == "en"
    assert str(english["Subject"]).startswith("Re: Cake arrived crushed [")  # built-in subject
    text = body_text(english)
    assert text.startswith("Hi Mary Jones,")  # the business's own words
    assert "Jo from the bakery will get back to you by Wednesday, December 2, 2026" in \
        " ".join(text.split())
    html_part = english.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert "Jo from the bakery" not in html  # only the text part was overridden
    assert "Mary Jones" in html
