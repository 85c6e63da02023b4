"""Every message in the optional corpus of real-world mail is parsed or quarantined, never crashes.

The corpus is third-party mail (see its README); these tests pin down what a
user would notice: the right script in subjects and bodies, the right sender,
and exactly which messages cannot be used and why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_corpus import CORPUS, FILES, needs_corpus
from triaged.core.classify import ClassifyContext, classify
from triaged.core.parse.message import parse_message
from triaged.domain.errors import QuarantineError
from triaged.domain.records import Outcome, ParsedMail

pytestmark = needs_corpus

# Messages that cannot become a complaint, with the reason they are parked.
QUARANTINED = {
    "flanker__attached-pdf.eml": "no sender address",
    "flanker__bounce__delayed-broken.eml": "no sender address",
    "mimekit__Benchmarks__TestData__messages__startrek.eml": "no usable sender address",
    "mimekit__messages__delivery-status-multiple-blank-lines.eml": "no sender address",
    "mimekit__messages__delivery-status2.eml": "no usable sender address",
    "mimekit__messages__multipart-related-mhtml.eml": "no sender address",
    "mimekit__yenc__state-changes.eml": "not an email message",
    "phpmimemailparser__issue116.eml": "no sender address",
    "phpmimemailparser__issue212.eml": "no sender address",
    "phpmimemailparser__issue250.eml": "no sender address",
    "phpmimemailparser__m0027.eml": "no sender address",
}


def parse(name: str) -> ParsedMail:
    return parse_message((CORPUS / name).read_bytes())


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_message_parses_or_is_quarantined_with_a_reason(path: Path) -> None:
    if path.name in QUARANTINED:
        with pytest.raises(QuarantineError) as raised:
            parse_message(path.read_bytes())
        assert QUARANTINED[path.name] in raised.value.reason
        return
    parsed = parse_message(path.read_bytes())
    assert "@" in parsed.sender.email
    assert parsed.message_id.startswith("<")
    assert parsed.message_id.endswith(">")
    assert parsed.date is None or parsed.date.utcoffset() is not None


def test_corpus_totals(capsys: pytest.CaptureFixture[str]) -> None:
    parsed = quarantined = 0
    for path in FILES:
        try:
            parse_message(path.read_bytes())
            parsed += 1
        except QuarantineError:
            quarantined += 1
    with capsys.disabled():
        print(f"\ncorpus: {len(FILES)} messages, {parsed} parsed, {quarantined} quarantined")
    assert quarantined == len(QUARANTINED)
    assert parsed + quarantined == len(FILES)


def test_iso_2022_jp_subject_and_body() -> None:
    mail = parse("mimekit__messages__japanese.eml")

    assert mail.subject == "日本語メールテスト (testing Japanese emails)"
    assert "日本語が\n正常に\n送れているか\nテスト." in mail.text


def test_ks_c_5601_1987_attachment_name_is_korean() -> None:
    mail = parse("phpmimemailparser__m0018.eml")

    assert [a.filename for a in mail.attachments] == ["사진.JPG", "ATT00001.txt"]
    assert mail.text.startswith("My traveling companions!")


def test_content_language_of_a_korean_outlook_mail() -> None:
    assert parse("phpmimemailparser__m0026.eml").content_language == "ko-KR"


def test_rfc2231_and_rfc2047_attachment_names() -> None:
    names = [a.filename for a in parse("phpmimemailparser__issue274.eml").attachments]
    doc = parse("phpmimemailparser__m0024.eml").attachments

    assert "Cours-Tutoriels-Serge-Tahé-1568x268.png" in names
    assert [a.filename for a in doc] == ["Biodiversité de semaine en semaine.doc"]


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("flanker__bilingual-simple.eml", "Simple text. How are you? Как ты поживаешь?"),
        ("phpmimemailparser__issue149.eml", "מענה 'אני לא נמצא': Invoice 02722027"),
        ("phpmimemailparser__m0022.eml", "[PRJ-OTH] asdf árvíztűrő tükörfúrógép"),
        ("flanker__long-header.eml", "Die heiße Zypernsonne quälte Max und Victoria ja böse auf"),
    ],
)
def test_encoded_subjects_in_other_scripts(name: str, subject: str) -> None:
    assert parse(name).subject.startswith(subject)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("mimekit__tnef__ukr.eml", "шостий"),
        ("flanker__8bitmime.eml", "Превел"),
        ("phpmimemailparser__failure.eml", "次の受信者またはグループへの配信に失敗しました"),
        ("phpmimemailparser__m0014.eml", "Die Hasen und die Frösche"),
    ],
)
def test_bodies_in_other_charsets(name: str, text: str) -> None:
    assert text in parse(name).text


@pytest.mark.parametrize(
    ("name", "email", "display"),
    [
        ("flanker__from-encoding.eml", "ingo@blank.pages.de", "Ingo Lütkebohle"),
        ("phpmimemailparser__m0124.eml", "user@domain.ru", 'ФГУП "СибНИА им.С.А.Чаплыгина""'),
        # Unindented folded lines cut the header block short; From is recovered.
        ("phpmimemailparser__issue84.eml", "tyra3l@gmail.com", "Ferenc Kovacs"),
        # A byte-order mark precedes the first header.
        ("mimekit__messages__feedback-report.eml", "abusedesk@example.com", ""),
        # An unquoted display name that looks like an address.
        (
            "mimekit__messages__issue358.eml",
            "jang.abcdef@xyzlinux12345678.it",
            "jang.abcdef@xyzlinu",
        ),
    ],
)
def test_senders_survive_odd_encodings_and_damage(name: str, email: str, display: str) -> None:
    sender = parse(name).sender

    assert (sender.email, sender.name) == (email, display)


def _tagged_automatic() -> list[str]:
    """Corpus files whose MANIFEST tags say a robot or a list sent them."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    automatic = {"bounce", "multipart-report", "autoreply", "list", "mdn", "arf"}
    names = []
    for line in manifest.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) > 4 and automatic & set(fields[4].split()):
            names.append(fields[0])
    return sorted(set(names) - set(QUARANTINED))


@pytest.mark.parametrize("name", _tagged_automatic())
def test_bounces_reports_and_list_mail_are_never_complaints(name: str) -> None:
    verdict = classify(parse(name), ClassifyContext())

    assert verdict.outcome == Outcome.NOT_COMPLAINT
