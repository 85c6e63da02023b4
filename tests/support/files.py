"""Files customers and staff attach, made here (a photo, a receipt, a program), and
complaints that carry them."""

from __future__ import annotations

import hashlib
import random
from email.message import EmailMessage
from email.policy import SMTP

from tests.support.mail import complaint_mail, parsed


def jpeg(seed: int = 1, size: int = 40_000) -> bytes:
    """A JPEG-shaped photo: its markers and `size` bytes of noise (bytes are what count)."""
    noise = random.Random(seed).randbytes(size)
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + noise.replace(b"\xff", b"\xfe") + b"\xff\xd9")


def pdf(text: str = "Receipt 4711: Birthday cake, 45.00 EUR") -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]/Contents 4 0 R>>endobj\n"
            + f"4 0 obj<</Length {len(stream)}>>stream\n".encode() + stream
            + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def exe() -> bytes:
    return b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 8


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def with_files(sender: str, to: str, subject: str, body: str,
               files: list[tuple[str, str, bytes]], *, name: str = "") -> bytes:
    """A complaint as a mail client sends it: text, then each (name, type, bytes)."""
    msg = parsed(complaint_mail(sender, to, subject, body, name=name))
    out = EmailMessage()
    for key, value in msg.items():
        if key.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
            out[key] = value
    out.set_content(body)
    for filename, ctype, data in files:
        maintype, subtype = ctype.split("/")
        out.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    # CRLF line ends: smtplib sends bytes as they are, and SMTP needs CRLF.
    return out.as_bytes(policy=SMTP)


def files_of(letter: bytes) -> dict[str, bytes]:
    """The attached and inline files of a letter we sent, by name."""
    found: dict[str, bytes] = {}
    for part in parsed(letter).walk():
        name = part.get_filename()
        if name and not part.is_multipart():
            payload = part.get_payload(decode=True)
            found[name] = payload if isinstance(payload, bytes) else b""
    return found
