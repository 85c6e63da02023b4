"""Mail, commands and checks shared by the tests of strict addresses, bounded letters,
capped raw storage and blanked reply tokens."""

from __future__ import annotations

import base64
import email
import json
import re
import subprocess
import sys
from email.header import decode_header
from email.message import EmailMessage, Message
from email.policy import SMTP, compat32
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from tests.support.installation import MONDAY_10_BUCHAREST, Triaged
from triaged.replies.tokens import TOKEN_PATTERN, parse_token, verify

SECRET = "approval-secret-for-the-small-holes"
_TOKEN = re.compile(TOKEN_PATTERN, re.IGNORECASE)


def people(staff: str, managers: tuple[str, ...], key: Path, *, limits: str = "") -> str:
    """Config tail: staff told of everything, managers who approve, an approval key."""
    listed = "".join(f'\n[[managers]]\nemail = "{m}"\nname = "M{i}"\nlevel = 1\n'
                     for i, m in enumerate(managers))
    key.write_text(SECRET + "\n")
    return (f'\n[staff]\nnotify = ["{staff}"]\n{listed}\n[approval]\nsecret_file = "{key}"\n'
            f'token_ttl = "14 days"\n{limits}\n')


def mail(from_header: str, to: str, subject: str, body: str, **headers: str) -> bytes:
    """A message as a mail client (or an attacker's script) sends it, CRLF line ends."""
    msg = EmailMessage()
    msg["From"] = from_header
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    msg["Message-ID"] = make_msgid(domain="customer.example")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def hostile_from(from_header: str, to: str) -> bytes:
    """A message whose From header is written by hand, exactly as given."""
    return (f"From: {from_header}\r\nTo: {to}\r\nSubject: Refund now\r\n"
            f"Date: {format_datetime(MONDAY_10_BUCHAREST)}\r\n"
            f"Message-ID: {make_msgid(domain='attacker.example')}\r\n\r\n"
            "My order never came. Refund me.\r\n").encode()


def reply(original: bytes, sender: str, body: str) -> bytes:
    """What a person's mail client sends on Reply to `original`, writing `body`."""
    msg_in = parsed(original)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = str(msg_in["Reply-To"] or msg_in["From"])
    msg["Subject"] = f"Re: {decoded_header(msg_in, 'Subject')}"
    msg["Date"] = format_datetime(MONDAY_10_BUCHAREST)
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg["In-Reply-To"] = str(msg_in["Message-ID"])
    msg["References"] = str(msg_in["Message-ID"])
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def parsed(data: bytes) -> Message:
    return email.message_from_bytes(data, policy=compat32)


def decoded_header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    text = "".join(part.decode(charset or "utf-8", "replace") if isinstance(part, bytes)
                   else part for part, charset in decode_header(str(value)))
    return " ".join(text.split())


def readable(data: bytes) -> str:
    """Everything a person could read in a mail: every header decoded, every part decoded."""
    msg = parsed(data)
    texts = [f"{name}: {decoded_header(msg, name)}" for name in msg]
    for part in msg.walk():
        texts.extend(f"{name}: {decoded_header(part, name)}" for name in part)
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode("utf-8", "replace"))
    return "\n".join([data.decode("utf-8", "replace"), *texts])


def live_tokens(text: str, recipients: list[str]) -> list[str]:
    """The tokens in `text` that would still verify for one of `recipients`."""
    live = []
    for found in _TOKEN.findall(text):
        claim = parse_token(found)
        if claim is not None and any(verify(claim, SECRET, r) for r in recipients):
            live.append(found)
    return live


def export_texts(exported: str) -> str:
    """An export's lines, with every base64 value (stored mail) decoded and read as mail."""
    texts = [exported]
    for line in exported.splitlines():
        record: dict[str, Any] = json.loads(line)
        for value in (record.get("row") or {}).values():
            if isinstance(value, str) and len(value) > 40 and re.fullmatch(r"[A-Za-z0-9+/=]+",
                                                                            value):
                try:
                    texts.append(readable(base64.b64decode(value, validate=True)))
                except ValueError:
                    continue
    return "\n".join(texts)


def cli(t: Triaged, *args: str) -> str:
    """`triaged ARGS` as an operator runs it; its standard output (exit 0, no traceback)."""
    done = subprocess.run([sys.executable, "-m", "triaged", "--config", str(t.config_path),
                           *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout
