"""The final letter, approved by email, on the real mail stack (only the clock is faked).

Staff answer the new-complaint notice with the resolution, the lowest-level
managers get an approval request showing the letter exactly as the customer
will get it, and a manager's reply decides: APPROVE sends the final letter,
threaded, in the customer's language; REJECT sends staff the reason; an
edited letter is sent as edited.
"""

from __future__ import annotations

import re
from email.policy import SMTP

import pytest

from tests.support.approval import (
    RESOLUTION,
    Shop,
    draft_by_email,
    gmail_quote,
    outlook_quote,
    reply_to,
)
from tests.support.mail import body_text, parsed, smtp_send
from triaged.core.decision import EDIT_END, EDIT_START


def test_complaint_to_final_letter_by_email_replies_threaded_in_the_customers_language(
    shop: Shop,
) -> None:
    complaint = shop.complain()
    [holding] = shop.inbox(shop.customer, 1)
    [notice] = shop.inbox(shop.staff, 1)
    notice_text = body_text(parsed(notice))
    assert complaint.reference in str(parsed(notice)["Subject"])
    assert "Die Geburtstagstorte kam völlig zerdrückt an." in notice_text
    assert "reply to this email" in notice_text

    draft_by_email(shop)

    assert shop.state(complaint.id) == "awaiting_approval"
    [drafted] = shop.events("drafted")
    assert drafted["version"] == 1
    assert drafted["actor"] == shop.staff
    [request] = shop.inbox(shop.dana, 1)
    assert len(shop.inbox(shop.erin, 1)) == 1  # every lowest-level manager
    assert shop.stack.messages(shop.boss) == []  # level 2 is not asked
    request_text = body_text(parsed(request))
    assert "APPROVE" in request_text
    assert "REJECT" in request_text
    assert EDIT_START in request_text
    assert EDIT_END in request_text
    assert "Bob, Acme Bakery" not in request_text  # staff's signature was left out
    assert "received from" in request_text  # the short history
    assert "version 1 drafted by" in request_text

    # Dana answers from Outlook: APPROVE on top, the request quoted below, unprefixed.
    shop.send(shop.dana, reply_to(request, shop.dana,
                                  f"APPROVE\n\nDana\n\n{outlook_quote(request)}"))

    assert shop.state(complaint.id) == "resolved"
    [approved] = shop.events("approved")
    assert approved["version"] == 1
    assert approved["via"] == "email"
    assert approved["actor"] == shop.dana
    holding_msg = parsed(holding)
    final = parsed(shop.inbox(shop.customer, 2)[1])
    original_id = str(parsed(shop.complaint_bytes)["Message-ID"])
    assert final["In-Reply-To"] == original_id
    assert original_id in str(final["References"])
    assert str(holding_msg["Message-ID"]) in str(final["References"])
    assert str(final["Subject"]) == f"Re: Torte zerdrückt [{complaint.reference}]"
    assert final["Content-Language"] == "de"
    final_text = body_text(final)
    assert "Guten Tag Maria Schmidt" in final_text
    assert RESOLUTION in final_text
    assert complaint.reference in final_text
    # The request showed exactly this letter.
    assert final_text.replace("\r\n", "\n").strip() in request_text.replace("\r\n", "\n")
    assert str(final["Subject"]) in request_text
    confirmation = shop.latest(shop.dana, "Approved and sent")
    assert complaint.reference in str(parsed(confirmation)["Subject"])
    assert shop.outcomes() == ["complaint", "approval_reply", "approval_reply"]


def test_reject_by_email_returns_the_complaint_and_tells_staff_the_reason(shop: Shop) -> None:
    complaint = shop.complain()
    draft_by_email(shop)
    [request] = shop.inbox(shop.dana, 1)

    # Apple Mail, HTML only, with a phone footer.
    html = ("<div>REJECT the refund must be 50 euros, the delivery fee too</div>"
            "<div><br>Sent from my iPhone</div><blockquote type=\"cite\">"
            "On 23 Nov 2026, at 10:00, Acme Bakery wrote:<br>APPROVE</blockquote>")
    shop.send(shop.dana, reply_to(request, shop.dana, "", html=html))

    assert shop.state(complaint.id) == "in_progress"
    [rejected] = shop.events("rejected")
    assert rejected["reason"] == "the refund must be 50 euros, the delivery fee too"
    notice = shop.latest(shop.staff, "Rejected")
    assert "the refund must be 50 euros, the delivery fee too" in body_text(parsed(notice))
    assert len(shop.stack.messages(shop.customer)) == 1  # only the holding reply

    # Staff answer the rejection notice with a new version: a new request goes out.
    body = "Wir erstatten 50 Euro inklusive Liefergebühr.\n\nThanks,\nBob"
    shop.send(shop.staff, reply_to(notice, shop.staff, body))
    assert shop.state(complaint.id) == "awaiting_approval"
    assert [d["version"] for d in shop.events("drafted")] == [1, 2]
    [_, request_v2] = shop.inbox(shop.dana, 2)
    assert "(version 2)" in str(parsed(request_v2)["Subject"])
    assert "Wir erstatten 50 Euro inklusive Liefergebühr." in body_text(parsed(request_v2))
    assert "Bob" not in body_text(parsed(request_v2)).split("THE LETTER")[0]


def test_an_edited_letter_is_sent_as_edited_and_recorded_as_a_new_version(shop: Shop) -> None:
    complaint = shop.complain()
    draft_by_email(shop)
    [request] = shop.inbox(shop.dana, 1)
    edited = "Wir erstatten Ihnen 60 Euro.\n\nDie neue Torte liefern wir am Freitag."
    body = f"{EDIT_START}\n{edited}\n{EDIT_END}\n\nDana\n\n{gmail_quote(request)}"

    shop.send(shop.dana, reply_to(request, shop.dana, body))

    assert shop.state(complaint.id) == "resolved"
    assert [(d["version"], d["source"]) for d in shop.events("drafted")] == [
        (1, "email"), (2, "edit")]
    [approved] = shop.events("approved")
    assert (approved["version"], approved["edited"]) == (2, True)
    final_text = body_text(parsed(shop.inbox(shop.customer, 2)[1]))
    assert "Wir erstatten Ihnen 60 Euro." in final_text
    assert "Die neue Torte liefern wir am Freitag." in final_text
    assert RESOLUTION not in final_text


def test_customer_text_is_data_never_a_template_and_escaped_in_html(shop: Shop) -> None:
    shop.complain(subject="Order {{ 7*7 }}",
                  body="{{ config }} {% for x in range(3) %}loop{% endfor %} "
                       "<script>alert('x')</script> <b>bold</b>")
    [notice] = shop.inbox(shop.staff, 1)
    msg = parsed(notice)
    text = body_text(msg)
    assert "{{ config }}" in text
    assert "{% for x in range(3) %}" in text
    assert "49" not in str(msg["Subject"])
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<b>bold</b>" not in html


@pytest.mark.parametrize("kept", ["message-id", "subject"])
def test_the_token_survives_a_reply_that_kept_only_one_of_its_carriers(
    shop: Shop, kept: str
) -> None:
    complaint = shop.complain()
    draft_by_email(shop)
    [request] = shop.inbox(shop.dana, 1)
    data = reply_to(request, shop.dana, "APPROVE")
    msg = parsed(data)
    # Sent to the plain support address: the plus-address is gone.
    msg.replace_header("To", shop.t.support)
    if kept == "message-id":
        msg.replace_header("Subject", re.sub(r"\s*\[#[^\]]+\]", "", str(msg["Subject"])))
    else:
        del msg["In-Reply-To"]
        del msg["References"]

    shop.send(shop.dana, msg.as_bytes(policy=SMTP))

    assert shop.state(complaint.id) == "resolved"
    assert [letter.kind for letter in shop.letters_to(shop.customer)] == ["holding", "final"]


def test_a_staff_members_short_sign_off_stays_out_of_the_customers_final_letter(
    shop: Shop,
) -> None:
    complaint = shop.complain()
    notice = shop.latest(shop.staff, "New complaint")
    # Typed from a phone: no "-- " delimiter, just the resolution and a first name.
    shop.send(shop.staff, reply_to(notice, shop.staff,
                                   f"{RESOLUTION}\nDanke, Bob\n\n{gmail_quote(notice)}"))
    [request] = shop.inbox(shop.dana, 1)
    assert "Danke, Bob" not in body_text(parsed(request))

    shop.send(shop.dana, reply_to(request, shop.dana, "APPROVE\n\nDana"))

    assert shop.state(complaint.id) == "resolved"
    final_text = body_text(parsed(shop.inbox(shop.customer, 2)[1]))
    assert RESOLUTION in final_text
    assert "Bob" not in final_text


def test_the_customers_words_read_just_before_a_draft_are_in_the_requests_history(
    shop: Shop,
) -> None:
    # The customer writes again and staff draft the answer before the next poll: both
    # are read in one batch, and the request's history must show the customer's words.
    complaint = shop.complain()
    [holding] = shop.inbox(shop.customer, 1)
    notice = shop.latest(shop.staff, "New complaint")
    smtp_send(shop.stack, shop.customer, shop.t.support,
              reply_to(holding, shop.customer, "Und die Kerzen fehlten auch."))
    body = f"{RESOLUTION}\n\n-- \nBob, Acme Bakery\n\n{gmail_quote(notice)}"
    smtp_send(shop.stack, shop.staff, shop.t.support, reply_to(notice, shop.staff, body))
    shop.t.cycle()

    assert shop.outcomes() == ["complaint", "follow_up", "approval_reply"]
    assert shop.state(complaint.id) == "awaiting_approval"
    request_text = body_text(parsed(shop.letter(shop.dana, complaint.reference)))
    history = request_text[request_text.index("received from"):]
    assert "the customer wrote again" in history
    assert history.index("the customer wrote again") < history.index("version 1 drafted by")
