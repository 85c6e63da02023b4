"""The project's own hostile and malformed messages (tests/data/mime) and what each must become.

Every fixture's customer is ``customer@customer.example``; tests that deliver a
fixture put a real mailbox of the test stack in its place, so that the holding
reply (or its absence) can be seen where the customer would see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIME = Path(__file__).resolve().parent / "data" / "mime"
CUSTOMER = b"customer@customer.example"


@dataclass(frozen=True)
class Expected:
    """What one fixture becomes.

    `outcome` is the stored outcome; `detail` is what staff see for it: words of
    a complaint's subject or text, the rule that set a non-complaint aside, or
    the quarantine reason.
    """

    outcome: str
    detail: str
    # Whose complaint it is: the sender's, unless a configured forwarder sent it.
    customer: bytes = CUSTOMER


def complaint(words: str) -> Expected:
    return Expected("complaint", words)


def robot(rule: str) -> Expected:
    return Expected("not_complaint", rule)


def parked(reason: str) -> Expected:
    return Expected("quarantined", reason)


EXPECTED: dict[str, Expected] = {
    # Missing or damaged headers: a sender is all a complaint needs.
    "missing-from.eml": parked("no sender address: no From, Sender, Reply-To or Return-Path"),
    "missing-from-unusable.eml": parked("no usable sender address in From"),
    "missing-from-reply-to-only.eml": complaint("arrived broken"),
    "missing-date.eml": complaint("arrived broken"),
    "bad-date.eml": complaint("arrived broken"),
    "missing-message-id.eml": complaint("arrived broken"),
    "missing-subject.eml": complaint("arrived broken"),
    "missing-content-type.eml": complaint("arrived broken"),
    # Two From headers naming different mailboxes: which one is the customer would be
    # a guess, and answering both is how a second recipient is smuggled in.
    "duplicate-from.eml": parked("From names 2 mailboxes"),
    "header-lines-unindented.eml": complaint("without indenting the next line"),
    "byte-order-mark.eml": complaint("arrived broken"),
    "mbox-from-line.eml": complaint("arrived broken"),
    "empty-body.eml": complaint("Order 1182 arrived broken"),
    "huge-headers.eml": complaint("arrived broken"),
    # MIME structure.
    "boundary-mismatch.eml": complaint("My order 1182 arrived broken"),
    "boundary-missing-parameter.eml": complaint("My order 1182 arrived broken"),
    "boundary-unterminated.eml": complaint("My order 1182 arrived broken"),
    # A customer (not a configured forwarder) attaching someone else's mail: the
    # complaint stays the sender's; the attached message's author is never written to.
    "nested-rfc822-five-deep.eml": complaint("Parcel 1182"),
    "multipart-nested-200-deep.eml": complaint("Broken order"),
    "message-partial.eml": complaint("My order 1182 arrived"),
    "multipart-digest.eml": complaint("And 1183 too."),
    "external-body.eml": complaint("photos are on the server"),
    "multipart-related-mhtml.eml": complaint("My order 1182 arrived broken:"),
    "yenc-body.eml": complaint("the photo follows"),
    "smime-signed.eml": complaint("My order 1182 arrived broken"),
    "base64-garbage.eml": complaint("My order 1182 arrived broken"),
    "nul-bytes.eml": complaint("arrived broken"),
    "mixed-line-endings.eml": complaint("Please refund it."),
    # Charsets and encoded words.
    "charset-unknown.eml": complaint("Café crème"),
    "charset-lying-ascii-is-utf8.eml": complaint("Crème brûlée, São Paulo"),
    "charset-lying-utf8-is-latin1.eml": complaint("völlig zerdrückt"),
    "charset-undeclared-8bit.eml": complaint("Заказ 1182 пришёл разбитым"),
    "headers-8bit-raw.eml": complaint("Torte völlig zerdrückt – Bestellung 1182"),
    "headers-8bit-raw-latin1.eml": complaint("Torte völlig zerdrückt"),
    "rfc2047-oddities.eml": complaint("Çà va pas était cassé"),
    "rfc2231-attachment-names.eml": complaint("The photo and the receipt are attached."),
    # Bodies that are not plain text.
    "html-only.eml": complaint("My order 1182 arrived broken & late."),
    "attachment-only.eml": complaint("Order 1182"),
    "calendar-invite.eml": complaint("Call about order 1182"),
    "tnef-winmail-dat-only.eml": complaint("The crème brûlée was spilt."),
    "tnef-corrupt.eml": complaint("Broken order"),
    # Robots, lists and reports: recorded, never answered.
    "dsn-delivery-status.eml": robot("delivery-report"),
    "read-receipt.eml": robot("delivery-report"),
    "abuse-report-arf.eml": robot("delivery-report"),
    "auto-reply-out-of-office.eml": robot("auto-submitted"),
    "mailing-list.eml": robot("precedence"),
    "spam-flagged.eml": robot("spam-flag"),
    # Not mail at all.
    "not-an-email.eml": parked("no mail headers: the bytes are not an email message"),
}


def fixture_names() -> list[str]:
    """Every .eml in the folder, sorted; a fixture without an expectation fails the tests."""
    return sorted(path.name for path in MIME.glob("*.eml"))


def read(name: str, customer: str | None = None) -> bytes:
    """The fixture's bytes, with `customer` as the address of whose complaint it is."""
    data = (MIME / name).read_bytes()
    if customer is None:
        return data
    return data.replace(EXPECTED[name].customer, customer.encode())
