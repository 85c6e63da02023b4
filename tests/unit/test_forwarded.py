"""parse.forwarded: a forward belongs to its original customer, as each client writes it.

The fixtures in tests/data/forwards/ are what Gmail, Outlook (desktop, web,
mobile), Apple Mail and Thunderbird send when the owner forwards a customer's
mail, in each language the holding reply speaks (<client>-<lang>.eml), plus the
header-only forms and the cases that must *not* be re-attributed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.shared_corpus import corpus_file
from triaged.core.parse.forwarded import (
    Attribution,
    ForwardContext,
    PassedOn,
    Unattributed,
    attribute,
    is_forward_subject,
    strip_forward_prefixes,
)
from triaged.core.parse.message import parse_message
from triaged.domain.records import Address

DATA = Path(__file__).resolve().parents[1] / "data" / "forwards"
CTX = ForwardContext(own_addresses=frozenset({"support@acme.example"}),
                     forwarders=frozenset({"owner@acme.example"}))
OWNER = Address("owner@acme.example", "Dana Ionescu")

CUSTOMERS = {  # language: (name, address, subject, a line of the body)
    "en": ("Emily Carter", "emily.carter@example.net", "Cake arrived crushed",
           "The birthday cake I ordered arrived completely crushed."),
    "de": ("Jürgen Müller", "juergen.mueller@example.de", "Torte beschädigt angekommen",
           "Die bestellte Torte ist völlig zerdrückt angekommen."),
    "fr": ("Élodie Lefèvre", "elodie.lefevre@example.fr", "Gâteau arrivé écrasé",
           "Le gâteau que j'ai commandé est arrivé complètement écrasé."),
    "es": ("José Martínez", "jose.martinez@example.es", "La tarta llegó aplastada",
           "La tarta que pedí llegó completamente aplastada."),
    "ko": ("김민준", "minjun.kim@example.kr", "케이크가 찌그러져 도착했습니다",
           "주문한 생일 케이크가 완전히 찌그러진 채로 도착했습니다."),
    "ja": ("佐藤 花子", "hanako.sato@example.jp", "ケーキが潰れて届きました",
           "注文した誕生日ケーキが完全に潰れた状態で届きました。"),
    "th": ("สมชาย ใจดี", "somchai@example.co.th", "เค้กมาถึงในสภาพบี้แบน",
           "เค้กวันเกิดที่สั่งมาถึงในสภาพบี้แบนทั้งก้อน"),
    "ro": ("Ioana Popescu", "ioana.popescu@example.ro", "Tortul a ajuns strivit",
           "Tortul comandat a ajuns complet strivit."),
    "tl": ("Maria Santos", "maria.santos@example.ph", "Dumating na durog ang keyk",
           "Dumating na durog na durog ang keyk na inorder ko."),
}
CLIENTS = ("gmail", "outlook-desktop", "outlook-web", "outlook-mobile", "apple-mail",
           "thunderbird")
INLINE = [(client, lang) for client in CLIENTS for lang in CUSTOMERS]


def forwarded(
    name: str, ctx: ForwardContext = CTX
) -> Attribution | Unattributed | PassedOn | None:
    return attribute(parse_message((DATA / name).read_bytes()), ctx)


@pytest.mark.parametrize(("client", "lang"), INLINE, ids=[f"{c}-{lang}" for c, lang in INLINE])
def test_an_inline_forward_from_the_owner_belongs_to_the_original_customer(
    client: str, lang: str
) -> None:
    name, email, subject, line = CUSTOMERS[lang]

    found = forwarded(f"{client}-{lang}.eml")

    assert isinstance(found, Attribution)
    assert (found.customer.email, found.customer.name) == (email, name)
    assert found.subject == subject
    assert line in found.text
    assert "Dana" not in found.text.split(line)[0], "the owner's note is not the complaint"
    assert found.forwarder == OWNER
    assert found.source == "inline"
    assert found.date_text, "the original date is kept as the client wrote it"


@pytest.mark.parametrize("lang", ["en", "de", "fr", "es", "ro"])
def test_thunderbird_writes_a_date_that_is_read_as_a_date(lang: str) -> None:
    found = forwarded(f"thunderbird-{lang}.eml")

    assert isinstance(found, Attribution)
    assert found.date is not None
    assert found.date.isoformat() == "2026-11-23T09:12:44+02:00"


@pytest.mark.parametrize(
    ("name", "email", "who", "subject", "line", "message_id"),
    [
        ("thunderbird-as-attachment-en.eml", "peter.novak@example.cz", "Peter Novak",
         "Wrong order delivered", "I ordered a lemon tart", "<CAF7x9Q@mail.example.cz>"),
        ("outlook-as-attachment-de.eml", "sabine.koehler@example.de", "Sabine Köhler",
         "Falsche Lieferung", "Ich habe eine Zitronentarte bestellt",
         "<FR3P281MB1@FR3P281MB1.DEUP281.PROD.OUTLOOK.COM>"),
    ],
)
def test_a_forward_as_attachment_keeps_the_original_and_its_message_id(
    name: str, email: str, who: str, subject: str, line: str, message_id: str
) -> None:
    found = forwarded(name)

    assert isinstance(found, Attribution)
    assert (found.customer.email, found.customer.name) == (email, who)
    assert (found.subject, found.message_id, found.source) == (subject, message_id,
                                                                "message/rfc822")
    assert line in found.text
    assert found.date is not None
    assert found.date.year == 2026
    assert found.forwarder == OWNER


@pytest.mark.parametrize(
    ("name", "email", "forwarder", "source"),
    [
        ("google-group-x-original-from.eml", "emily.carter@example.net", "support@acme.example",
         "x-original-from"),
        ("redirect-resent-from.eml", "ioana.popescu@example.ro", "owner@acme.example",
         "resent-from"),
        ("contact-form-reply-to.eml", "jose.martinez@example.es", "owner@acme.example",
         "reply-to"),
    ],
)
def test_header_forms_name_the_customer(name: str, email: str, forwarder: str,
                                        source: str) -> None:
    found = forwarded(name)

    assert isinstance(found, Attribution)
    assert (found.customer.email, found.forwarder.email, found.source) == (email, forwarder,
                                                                           source)


def test_a_redirect_keeps_the_customers_own_message_id_for_threading() -> None:
    found = forwarded("redirect-resent-from.eml")

    assert isinstance(found, Attribution)
    assert found.message_id == "<orig-ioana@example.ro>"


@pytest.mark.parametrize("name", ["forwarder-without-original.eml",
                                  "outlook-from-without-address.eml"])
def test_a_forwarders_mail_without_an_original_sender_is_flagged_for_staff(name: str) -> None:
    found = forwarded(name)

    assert isinstance(found, Unattributed)
    assert found.forwarder == OWNER


def test_a_stranger_passing_on_someone_elses_complaint_keeps_it_and_names_its_author(
) -> None:
    # A forward names whoever its sender chooses: only a forwarder's is re-attributed.
    found = forwarded("stranger-bare-forward-en.eml")

    assert isinstance(found, PassedOn)
    assert found.author.email == "emily.carter@example.net"
    assert found.source == "inline"


def test_a_customer_who_complains_about_a_quoted_mail_stays_the_customer() -> None:
    # An address quoted in the body must not become the customer.
    assert forwarded("customer-quotes-a-courier.eml") is None


def test_a_reply_that_quotes_an_outlook_header_block_is_not_a_forward() -> None:
    assert forwarded("customer-reply-quoting-outlook.eml") is None


def test_without_forwarders_configured_the_owners_forward_stays_the_owners() -> None:
    # The owner is then a stranger: the forward is theirs, its author recorded.
    found = forwarded("gmail-en.eml", ForwardContext(own_addresses=CTX.own_addresses))

    assert isinstance(found, PassedOn)
    assert found.author.email == "emily.carter@example.net"


def test_a_list_rewrite_from_a_stranger_is_not_trusted() -> None:
    # "x via y" with X-Original-From counts only from our own or a forwarder's address.
    data = (DATA / "google-group-x-original-from.eml").read_bytes().replace(
        b"support@acme.example", b"group@lists.example")

    assert not isinstance(attribute(parse_message(data), CTX), Attribution)


def test_a_forward_of_our_own_letter_is_not_handed_to_us() -> None:
    raw = (DATA / "gmail-en.eml").read_bytes()
    mail = parse_message(raw)
    ours = mail.text.replace("emily.carter@example.net", "support@acme.example")

    assert isinstance(attribute(replace(mail, text=ours), CTX), Unattributed)


@pytest.mark.parametrize(
    "subject",
    ["Fwd: x", "FW: x", "WG: x", "TR: x", "RV: x", "Re: Fwd: x", "転送: x", "전달: x",
     "转发：x", "ส่งต่อ: x", "Fw:x"],
)
def test_forward_prefixes_in_many_languages(subject: str) -> None:
    assert is_forward_subject(subject)
    assert strip_forward_prefixes(subject) == "x"


@pytest.mark.parametrize("subject", ["Re: x", "Forward planning", "I want a refund", "AW: x"])
def test_replies_and_ordinary_subjects_are_not_forwards(subject: str) -> None:
    assert not is_forward_subject(subject)


@pytest.mark.parametrize(
    "name",
    ["mimekit__messages__delivery-status.eml", "mimekit__messages__feedback-report.eml",
     "mimekit__messages__disposition-notification.eml", "flanker__bounce__zed.eml"],
)
def test_a_report_returning_a_message_is_not_a_forward_of_it(name: str) -> None:
    assert attribute(parse_message(corpus_file(name).read_bytes()), CTX) is None


def test_an_auto_reply_quoting_a_forward_is_not_re_attributed() -> None:
    data = (DATA / "gmail-en.eml").read_bytes().replace(
        b"MIME-Version: 1.0", b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0", 1)

    assert attribute(parse_message(data), CTX) is None
