"""Staff and managers read the business's language; the customer reads their own.

On the private Dovecot + SMTP relay, only the clock faked: a shop configured
with `business.language` sends its new-complaint notice, escalation, approval
request and confirmation in that language, and a manager's APPROVE typed
under the translated request still decides; meanwhile a Korean customer who
wrote in EUC-KR gets every letter — holding reply, date extension, final
letter, satisfaction check — in Korean, with Korean dates, and their name in
Hangul in the greeting and in the (MIME-encoded) To header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import select

from tests.mailstack import MailStack
from tests.support.approval import gmail_quote, outlook_quote, reply_to
from tests.support.escalation import FAST_LADDER, ROUND_THE_CLOCK
from tests.support.fixture_types import NewAddress
from tests.support.installation import Triaged
from tests.support.languages import CASES, legacy_complaint
from tests.support.mail import body_text, complaint_mail, parsed, smtp_send
from triaged.core.decision import EDIT_END, EDIT_START
from triaged.core.letters.customer import promised_words
from triaged.domain.records import ComplaintState
from triaged.store.db import transaction
from triaged.store.models import Complaint

KOREAN = next(case for case in CASES if case.language == "ko")


@dataclass(frozen=True)
class Staff:
    """What the business's people read, in one language."""

    language: str
    notice: str  # the new-complaint notice's subject begins so
    request: str  # the approval request's subject begins so
    approved: str  # the confirmation's subject begins so
    english: str  # "English", as the notice names the customer's letter language


STAFF = [
    Staff("ko", "새 고객 불만 접수", "승인 요청:", "승인 완료, 발송됨:", "영어"),
    Staff("ja", "新しい苦情の受付", "承認のお願い：", "承認済み・送信しました：", "英語"),
    Staff("th", "เรื่องร้องเรียนใหม่", "ขออนุมัติ:", "อนุมัติและส่งแล้ว:", "อังกฤษ"),
    Staff("ro", "Reclamație nouă", "Aprobare necesară:", "Aprobată și trimisă:", "engleză"),
    Staff("tl", "Bagong reklamo", "Kailangan ng pag-apruba:", "Naaprubahan at naipadala:",
          "English"),
    Staff("de", "Neue Reklamation", "Freigabe nötig:", "Freigegeben und verschickt:",
          "Englisch"),
    Staff("fr", "Nouvelle réclamation", "Validation requise :", "Validée et envoyée :",
          "anglais"),
    Staff("es", "Nueva reclamación", "Aprobación pendiente:", "Aprobada y enviada:", "inglés"),
]


def people(team: str, dana: str, ana: str, key: Path) -> str:
    return f"""
[staff]
notify = ["{team}"]

[[managers]]
email = "{dana}"
name = "Dana"
level = 1

[[managers]]
email = "{ana}"
name = "Ana"
level = 2

[approval]
secret_file = "{key}"
"""


class Shop:
    def __init__(self, make_triaged: Callable[..., Triaged], new_address: NewAddress,
                 stack: MailStack, tmp_path: Path, language: str, *, fast: bool = False
                 ) -> None:
        self.stack = stack
        self.team, self.dana, self.ana = (new_address(p) for p in ("team", "dana", "ana"))
        self.customer = new_address("cust")
        key = tmp_path / "approval.key"
        key.write_text("business language test secret\n")
        week = ROUND_THE_CLOCK if fast else 'working_hours = ["09:00", "17:00"]'
        extra = {"sla": FAST_LADDER} if fast else {}
        self.t = make_triaged(week=f'{week}\nlanguage = "{language}"',
                              tail=people(self.team, self.dana, self.ana, key), **extra)
        self.t.cycle()  # first contact with the empty mailbox

    def send(self, sender: str, data: bytes) -> None:
        to = str(parsed(data)["To"])
        smtp_send(self.stack, sender, to.split("<")[-1].rstrip(">"), data)
        self.t.cycle()

    def letters(self, address: str) -> list[EmailMessage]:
        return [parsed(m) for m in self.stack.messages(address)]

    def raw_letters(self, address: str) -> list[bytes]:
        return self.stack.messages(address)

    def only(self, address: str, subject_start: str) -> bytes:
        found = [m for m in self.stack.messages(address)
                 if str(parsed(m)["Subject"]).startswith(subject_start)]
        assert len(found) == 1, [str(parsed(m)["Subject"]) for m in self.stack.messages(address)]
        return found[0]

    def complaint(self) -> Complaint:
        with transaction(self.t.app.engine) as session:
            return session.exec(select(Complaint)).one()


@pytest.mark.parametrize("staff", STAFF, ids=[s.language for s in STAFF])
def test_staff_and_managers_read_the_business_language_and_approval_still_works(
    staff: Staff, make_triaged: Callable[..., Triaged], new_address: NewAddress,
    mailstack: MailStack, tmp_path: Path,
) -> None:
    shop = Shop(make_triaged, new_address, mailstack, tmp_path, staff.language)
    shop.send(shop.customer, complaint_mail(
        shop.customer, shop.t.support, "Cake arrived crushed",
        "The birthday cake I ordered arrived completely crushed. The party was ruined.",
        name="Mary Jones"))
    reference = shop.complaint().reference
    [holding] = shop.letters(shop.customer)
    assert holding["Content-Language"] == "en"  # the customer's own language

    notice_bytes = shop.only(shop.team, staff.notice)
    notice = parsed(notice_bytes)
    assert notice["Content-Language"] == staff.language
    assert reference in str(notice["Subject"])
    notice_text = body_text(notice)
    assert "The birthday cake I ordered arrived completely crushed." in notice_text
    assert staff.english in notice_text  # write the resolution in English
    notice_html = notice.get_body(("html",))
    assert notice_html is not None
    assert f'lang="{staff.language}"' in str(notice_html.get_content())

    resolution = "We refund the full 45 euros and bake you a new cake for Friday."
    shop.send(shop.team, reply_to(notice_bytes, shop.team,
                                  f"{resolution}\n\n-- \nBob\n\n{gmail_quote(notice_bytes)}"))

    request_bytes = shop.only(shop.dana, staff.request)
    request = parsed(request_bytes)
    assert request["Content-Language"] == staff.language
    request_text = body_text(request)
    for words in ("APPROVE", "REJECT", EDIT_START, EDIT_END, resolution, shop.team, reference):
        assert words in request_text, words
    assert "Dear Mary Jones" in request_text  # the customer's letter, shown as it will go
    assert "drafted by" not in request_text  # the short history speaks the language too

    shop.send(shop.dana, reply_to(request_bytes, shop.dana,
                                  f"APPROVE\n\nDana\n\n{outlook_quote(request_bytes)}"))

    assert shop.complaint().state == ComplaintState.RESOLVED
    _, final = shop.letters(shop.customer)
    assert final["Content-Language"] == "en"
    assert resolution in body_text(final)
    confirmation = parsed(shop.only(shop.dana, staff.approved))
    assert confirmation["Content-Language"] == staff.language
    assert reference in str(confirmation["Subject"])


def test_a_korean_customer_of_a_romanian_shop_reads_every_letter_in_korean(
    make_triaged: Callable[..., Triaged], new_address: NewAddress, mailstack: MailStack,
    tmp_path: Path,
) -> None:
    shop = Shop(make_triaged, new_address, mailstack, tmp_path, "ro", fast=True)
    shop.send(shop.customer, legacy_complaint(KOREAN, shop.customer, shop.t.support))
    complaint = shop.complaint()
    assert complaint.language == "ko"

    # The holding reply: Korean, the name in Hangul, MIME-encoded in the To header.
    [holding_bytes] = shop.raw_letters(shop.customer)
    holding = parsed(holding_bytes)
    assert holding["Content-Language"] == "ko"
    to_line = next(line for line in holding_bytes.split(b"\r\n") if line.startswith(b"To:"))
    assert re.fullmatch(rb"To: =\?utf-8\?[bq]\?[^?]+\?= <[^<>]+>", to_line), to_line
    assert holding["To"].addresses[0].display_name == KOREAN.name
    assert body_text(holding).splitlines()[0] == f"{KOREAN.name} 고객님,"

    # Staff are told in Romanian, and told to answer in Korean.
    notice_bytes = shop.only(shop.team, "Reclamație nouă")
    notice_text = body_text(parsed(notice_bytes))
    assert KOREAN.body in notice_text
    assert "scrieți și soluția în coreeană" in notice_text

    # The date passes: the level-1 manager is told in Romanian and moves it.
    shop.t.clock.advance(timedelta(minutes=11))
    shop.t.cycle()
    escalation = parsed(shop.only(shop.dana, "[Acme Bakery] Termen depășit"))
    assert escalation["Content-Language"] == "ro"
    assert "EXTEND 3 business days" in body_text(escalation)
    shop.send(shop.dana, reply_to(shop.only(shop.dana, "[Acme Bakery] Termen depășit"),
                                  shop.dana, "EXTEND 2 hours"))
    moved = shop.complaint()
    assert moved.due_at == shop.t.clock.now() + timedelta(hours=2)

    _, extension = shop.letters(shop.customer)
    assert extension["Content-Language"] == "ko"
    assert extension["In-Reply-To"] == holding["Message-ID"]
    new_date, new_time = promised_words(moved.due_at, "Europe/Bucharest", "ko")
    assert re.fullmatch(r"2026년 11월 23일 월요일", new_date)
    assert re.fullmatch(r"오후 1시 \(루마니아 시간\)", new_time), "12:11 promised as 1 PM"
    extension_text = " ".join(body_text(extension).split())
    assert f"늦어도 {new_date} {new_time}까지 답변을 드리겠습니다" in extension_text
    assert "진심으로 사과드립니다" in extension_text

    # Staff answer in Korean; the Romanian approval request shows the Korean letter.
    resolution = ("주문하신 케이크 금액 45,000원을 전액 환불해 드리고, "
                  "금요일에 새 케이크를 보내 드리겠습니다.")
    shop.send(shop.team, reply_to(notice_bytes, shop.team,
                                  f"{resolution}\n\n{gmail_quote(notice_bytes)}"))
    request_bytes = shop.only(shop.dana, "Aprobare necesară")
    request_text = body_text(parsed(request_bytes))
    assert "Scrisoarea către client este în coreeană." in request_text
    assert f"{KOREAN.name} 고객님," in request_text
    assert "scrisă de " + shop.team in request_text  # the short history, in Romanian
    shop.send(shop.dana, reply_to(request_bytes, shop.dana, "APPROVE"))

    assert shop.complaint().state == ComplaintState.RESOLVED
    assert parsed(shop.only(shop.dana, "Aprobată și trimisă"))["Content-Language"] == "ro"
    final = shop.letters(shop.customer)[2]
    assert final["Content-Language"] == "ko"
    assert str(final["Subject"]) == f"Re: {KOREAN.subject} [{complaint.reference}]"
    final_text = body_text(final)
    assert final_text.splitlines()[0] == f"{KOREAN.name} 고객님,"
    assert resolution in final_text
    assert "진심으로 사과드립니다" in final_text

    # Three business days later (round the clock: Thursday), are you satisfied?
    shop.t.clock.advance(timedelta(days=3, minutes=1))
    shop.t.cycle()
    check = shop.letters(shop.customer)[3]
    assert check["Content-Language"] == "ko"
    assert str(final["Message-ID"]) in str(check["References"])
    check_text = body_text(check)
    assert check_text.splitlines()[0] == f"{KOREAN.name} 고객님,"
    assert "문제가 제대로 해결되었는지" in check_text
