"""Complaints in a customer's language and in their client's usual charset (EUC-KR,
ISO-2022-JP, TIS-620, ISO-8859-2 or UTF-8), with what the holding reply must say in it."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from email.utils import format_datetime, make_msgid

from tests.support.installation import MONDAY_10_BUCHAREST


@dataclass(frozen=True)
class Case:
    language: str
    charset: str  # as the customer's client labels it
    codec: str  # Python's name for it
    name: str
    subject: str
    body: str
    greeting: str  # the first line of the reply
    # Monday 23 Nov 10:00 + 5 business days (30 Nov, 1 Dec are holidays), one line, with
    # the business's zone named in the letter's language.
    due: str
    phrase: str  # a sentence fragment only the translated letter has
    content_language: str = ""


CASES = [
    Case("ko", "EUC-KR", "euc_kr", "김민준", "케이크가 찌그러져서 왔어요",
         "주문한 생일 케이크가 다 찌그러진 상태로 도착했습니다. 환불 부탁드립니다.",
         "김민준 고객님,", "2026년 12월 2일 수요일 오전 10시 (루마니아 시간)", "접수번호는"),
    Case("ja", "ISO-2022-JP", "iso2022_jp", "山田 太郎", "ケーキが潰れていました",
         "注文したケーキが潰れた状態で届きました。返金をお願いします。",
         "山田 太郎 様", "2026年12月2日水曜日 10:00（ルーマニア時間）", "心よりお詫び申し上げます"),
    Case("th", "TIS-620", "tis_620", "สมชาย ใจดี", "เค้กเสียหาย",
         "เค้กที่สั่งมาถึงในสภาพบุบทั้งกล่อง ขอคืนเงินด้วย",
         "เรียน คุณสมชาย ใจดี", "วันพุธที่ 2 ธันวาคม พ.ศ. 2569 เวลา 10:00 น. (เวลาโรมาเนีย)",
         "หมายเลขอ้างอิง"),
    # ISO-8859-2 has only the cedilla forms ş and ţ; old Romanian clients write those.
    Case("ro", "ISO-8859-2", "iso8859_2", "Ioana Ţărnă", "Tort strivit",
         "Tortul comandat a ajuns complet strivit. Vă rog să-mi returnaţi banii, "
         "nu se mai putea mânca şi a fost pentru ziua fetiţei.",
         "Bună ziua, Ioana Ţărnă,", "miercuri, 2 decembrie 2026, la ora 10:00 (Ora din România)",
         "număr"),
    Case("tl", "UTF-8", "utf-8", "Juan dela Cruz", "Sirang cake",
         "Dumating po na sira ang cake na inorder ko. Pwede po bang ma-refund?",
         "Magandang araw po, Juan dela Cruz!",
         "Miyerkules, Disyembre 2, 2026, 10 AM (Oras sa Romania)",
         "Naitala na po"),
    Case("de", "UTF-8", "utf-8", "Jürgen Groß", "Torte zerdrückt",
         "Die bestellte Torte kam völlig zerdrückt an. Ich möchte mein Geld zurück.",
         "Guten Tag Jürgen Groß,", "Mittwoch, 2. Dezember 2026, 10:00 Uhr (Ortszeit Rumänien)",
         "Vorgangsnummer",
         content_language="de-DE"),
    Case("fr", "UTF-8", "utf-8", "Hélène Lefèvre", "Gâteau écrasé",
         "Le gâteau commandé est arrivé complètement écrasé. Je souhaite être remboursée.",
         "Bonjour Hélène Lefèvre,", "le mercredi 2 décembre 2026 à 10:00 (heure : Roumanie)",
         "réclamation"),
    Case("es", "UTF-8", "utf-8", "José Núñez", "Tarta aplastada",
         "La tarta que pedí llegó completamente aplastada. Quiero que me devuelvan el dinero.",
         "Hola, José Núñez:",
         "el miércoles, 2 de diciembre de 2026 a las 10:00 (hora de Rumanía)", "reclamación",
         content_language="en-US"),  # the client's interface language; the text wins
    # The same languages from other clients: Outlook's UHC (with 똠, which EUC-KR lacks),
    # Shift_JIS, Windows' Thai and Central European code pages, and UTF-8.
    Case("ko", "ks_c_5601-1987", "cp949", "박서연", "똠얌꿍 소스 누락",
         "똠얌꿍 밀키트를 주문했는데 소스가 빠져 있었어요. 다시 보내 주세요.",
         "박서연 고객님,", "2026년 12월 2일 수요일 오전 10시 (루마니아 시간)", "접수번호는"),
    Case("ko", "UTF-8", "utf-8", "이지은", "배송이 너무 늦어요",
         "일주일 전에 주문한 빵이 아직도 안 왔습니다. 언제 받을 수 있나요?",
         "이지은 고객님,", "2026년 12월 2일 수요일 오전 10시 (루마니아 시간)", "접수번호는"),
    Case("ja", "Shift_JIS", "shift_jis", "佐藤 花子", "箱が破れていました",
         "注文したお菓子の箱が破れていて、中身も崩れていました。交換をお願いします。",
         "佐藤 花子 様", "2026年12月2日水曜日 10:00（ルーマニア時間）", "心よりお詫び申し上げます"),
    Case("ja", "UTF-8", "utf-8", "鈴木 一郎", "届いていません",
         "先週注文したパンがまだ届いていません。確認していただけますか。",
         "鈴木 一郎 様", "2026年12月2日水曜日 10:00（ルーマニア時間）", "心よりお詫び申し上げます"),
    Case("th", "windows-874", "cp874", "สมหญิง รักดี", "ได้ของผิด",
         "สั่งขนมปังไปแต่ได้ของผิดมา อยากให้ส่งของที่ถูกต้องมาใหม่ค่ะ",
         "เรียน คุณสมหญิง รักดี", "วันพุธที่ 2 ธันวาคม พ.ศ. 2569 เวลา 10:00 น. (เวลาโรมาเนีย)",
         "หมายเลขอ้างอิง"),
    Case("th", "UTF-8", "utf-8", "วิชัย มั่นคง", "ขนมปังขึ้นรา",
         "ขนมปังที่ซื้อเมื่อวานขึ้นราแล้ว ขอเงินคืนด้วยครับ",
         "เรียน คุณวิชัย มั่นคง", "วันพุธที่ 2 ธันวาคม พ.ศ. 2569 เวลา 10:00 น. (เวลาโรมาเนีย)",
         "หมายเลขอ้างอิง"),
    Case("ro", "windows-1250", "cp1250", "Ştefan Bălănescu", "Prăjituri stricate",
         "Comanda a sosit cu o zi întârziere, iar prăjiturile erau stricate. "
         "Vă rog să-mi returnaţi banii pentru toată comanda.",
         "Bună ziua, Ştefan Bălănescu,",
         "miercuri, 2 decembrie 2026, la ora 10:00 (Ora din România)", "număr"),
    Case("ro", "UTF-8", "utf-8", "Ioana Țărnă", "Tort strivit",
         "Tortul comandat a ajuns complet strivit. Vă rog să-mi returnați banii, "
         "nu se mai putea mânca și a fost pentru ziua fetiței.",
         "Bună ziua, Ioana Țărnă,", "miercuri, 2 decembrie 2026, la ora 10:00 (Ora din România)",
         "număr"),
]


def encoded_word(text: str, charset: str, codec: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(codec)).decode('ascii')}?="


def legacy_complaint(case: Case, sender: str, to: str) -> bytes:
    """The bytes a customer's client would send: headers and body in `case.charset`."""
    seven_bit = case.codec == "iso2022_jp"
    headers = [
        f"From: {encoded_word(case.name, case.charset, case.codec)} <{sender}>",
        f"To: {to}",
        f"Subject: {encoded_word(case.subject, case.charset, case.codec)}",
        f"Date: {format_datetime(MONDAY_10_BUCHAREST)}",
        f"Message-ID: {make_msgid(idstring=case.language, domain='customer.example')}",
        "MIME-Version: 1.0",
        f'Content-Type: text/plain; charset="{case.charset}"',
        f"Content-Transfer-Encoding: {'7bit' if seven_bit else '8bit'}",
    ]
    if case.content_language:
        headers.append(f"Content-Language: {case.content_language}")
    return "\r\n".join(headers).encode("ascii") + b"\r\n\r\n" + case.body.encode(case.codec) \
        + b"\r\n"
