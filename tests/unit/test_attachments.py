"""Files in and out: what a hostile or broken attachment becomes, safe names, what is
dangerous to forward, what a letter carries, and the MIME our letters write."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from triaged.core.attachments import StoredFile, danger, human_size, plan, safe_name
from triaged.core.letters.compose import compose
from triaged.core.parse.message import parse_message
from triaged.domain.records import Address, Letter, LetterFile, LetterKind
from triaged.usecases.attachments import customer_files, from_mail

DATA = Path(__file__).parent.parent / "data" / "attachments"


def test_every_hostile_or_broken_file_is_kept_or_listed_with_a_reason() -> None:
    mail = parse_message((DATA / "hostile-names.eml").read_bytes())
    assert mail.text == "The cake arrived crushed; my files are attached."
    made = from_mail(customer_files(mail, forwarded=False))
    got = [(f.name, f.content_type, f.data is not None, f.reason) for f in made]
    assert got == [
        ("attachment-1.bin", "application/octet-stream", True, ""),
        ("wrongtype.jpg", "image/jpeg", True, ""),  # the type the name suggests
        ("notype.dat", "text/plain", True, ""),  # none suggested: the MIME default
        ("broken.jpg", "image/jpeg", True,
         "broken base64 (bad length): kept as it arrived, undecoded"),
        ("empty.pdf", "application/pdf", True, "empty file (0 bytes)"),
        ("passwd", "text/plain", True, ""),
        ("a Bcc_ x@evil.example", "application/octet-stream", True, ""),
        ("Käsekuchen Rückgabe.pdf", "application/pdf", True, ""),
        ("レシート.pdf", "application/pdf", True, ""),
        ("ФотО.png", "image/png", True, ""),
        ("レシート.pdf", "application/pdf", True, ""),
        ("invoice.pdf.exe", "application/x-msdownload", True, ""),
        ("harmless.pdf", "application/pdf", True, ""),
    ]
    assert made[0].data == b"no name at all"
    assert made[4].data == b""
    assert made[4].size == 0
    withheld = plan([StoredFile(n, f.name, f.content_type, f.size, f.data)
                     for n, f in enumerate(made, 1)], 10 * 1024 * 1024).listed
    assert [(x.name, x.why) for x in withheld] == [
        ("invoice.pdf.exe", "a .exe file can run code when opened"),
        ("harmless.pdf", "its content is a Windows program"),
    ]


def test_five_hundred_attachments_are_all_kept() -> None:
    parts = "".join(
        f"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        f'filename="f{i}.bin"\r\n\r\nfile {i}\r\n' for i in range(500))
    raw = (f"From: a@customer.example\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
           f'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
           f"Content-Type: text/plain\r\n\r\nmany files\r\n{parts}--B--\r\n").encode()
    made = from_mail(customer_files(parse_message(raw), forwarded=False))
    assert len(made) == 500
    assert made[499].name == "f499.bin"
    assert made[499].data == b"file 499"


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\win.ini", "win.ini"),
    ("a\r\nBcc: x", "a Bcc_ x"),
    ("\x00\x07bell.txt", "bell.txt"),
    ("...", "attachment.bin"),
    ("", "attachment.bin"),
    ("photo\u202egpj.exe", "photo gpj.exe"),  # a right-to-left override hides .exe
    ("x" * 300 + ".pdf", "x" * 146 + ".pdf"),
])
def test_names_are_made_safe_to_write(name: str, safe: str) -> None:
    assert safe_name(name, "attachment.bin") == safe


def _zip(*names: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    return out.getvalue()


@pytest.mark.parametrize(("name", "ctype", "data", "dangerous"), [
    ("photo.jpg", "image/jpeg", b"\xff\xd8", False),
    ("setup.EXE", "application/octet-stream", b"", True),
    ("run.ps1.", "text/plain", b"", True),
    ("letter.docm", "application/octet-stream", b"", True),
    ("script.txt", "application/javascript", b"", True),
    ("report.pdf", "application/pdf", b"MZ\x90\x00", True),
    ("photos.zip", "application/zip", _zip("a.jpg", "b.jpg"), False),
    ("photos.zip", "application/zip", _zip("a.jpg", "dir/invoice.scr"), True),
    ("broken.zip", "application/zip", b"PK\x03\x04 broken", False),
])
def test_dangerous_files_by_name_type_content_and_archive_names(
        name: str, ctype: str, data: bytes, dangerous: bool) -> None:
    assert bool(danger(name, ctype, data)) is dangerous


def test_a_letter_carries_files_up_to_forward_max_and_lists_the_rest() -> None:
    files = [StoredFile(1, "a.jpg", "image/jpeg", 600, b"a" * 600),
             StoredFile(2, "b.pdf", "application/pdf", 600, b"b" * 600),
             StoredFile(3, "c.png", "image/png", 300, b"c" * 300),
             StoredFile(4, "d.pdf", "application/pdf", 10, None, "not kept: too large")]
    chosen = plan(files, 1000)
    assert [f.n for f in chosen.attached] == [1, 3]
    assert [(x.n, x.why) for x in chosen.listed] == [
        (2, "the letter's files would pass 1000 bytes"), (4, "not kept: too large")]


def test_sizes_read_as_people_write_them() -> None:
    assert [human_size(s) for s in (0, 1023, 1024, 1536, 10 * 1024 * 1024)] == [
        "0 bytes", "1023 bytes", "1 KB", "1.5 KB", "10 MB"]


def test_composed_letter_carries_files_byte_identical_with_their_names() -> None:
    photo, label = bytes(range(256)) * 50, b"%PDF-1.4 label"
    letter = Letter(kind=LetterKind.NEW_COMPLAINT, to=Address("staff@acme.example"),
                    subject="New complaint", text="see the photo",
                    html='<p><img src="cid:file1.K7M@triaged"></p>', language="en",
                    files=(LetterFile("Kuchen ü.jpg", "image/jpeg", photo, True,
                                      "file1.K7M@triaged"),
                           LetterFile('a"\r\nBcc: x.pdf', "application/pdf; evil", label)))
    raw = compose(letter, Address("support@acme.example"), now=datetime.now(UTC),
                  message_id="<1@acme.example>")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    msg = message_from_bytes(raw, policy=policy.default)
    assert "Bcc" not in msg
    found = {p.get_filename(): (p.get_content_type(), p.get_content_disposition(),
                                p.get_payload(decode=True), p.get("Content-ID"))
             for p in msg.walk() if p.get_filename()}
    assert found["Kuchen ü.jpg"] == ("image/jpeg", "inline", photo, "<file1.K7M@triaged>")
    assert found["a_ Bcc: x.pdf"] == ("application/octet-stream", "attachment", label, None)


def test_a_letter_carries_at_most_fifty_files() -> None:
    files = [StoredFile(n, f"f{n}.pdf", "application/pdf", 10, b"x" * 10) for n in range(1, 61)]
    chosen = plan(files, 10 * 1024 * 1024)
    assert len(chosen.attached) == 50
    assert {x.why for x in chosen.listed} == {"a letter carries at most 50 files"}
