"""Letter → RFC 5322 bytes: our Message-ID, threading headers, RFC 3834 marks.

Built on the stdlib's compat32 MIME classes with explicit RFC 2047 encoding:
the `policy.default` header objects cost about 1.5 ms a letter, which alone
would cap the holding replies below SPEC §10's throughput.
"""

from __future__ import annotations

from datetime import datetime
from email import charset as email_charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid

from triaged.domain import Address, Letter

# Long References chains are trimmed to the first and the newest ids, as RFC 5322
# §3.6.4 allows, so that a long conversation never produces a huge header.
MAX_REFERENCES = 20

# Quoted-printable keeps letters readable in raw form and survives 7-bit relays.
_UTF8_QP = email_charset.Charset("utf-8")
_UTF8_QP.body_encoding = email_charset.QP
_CRLF = compat32.clone(linesep="\r\n", max_line_length=78)


def one_line(text: str) -> str:
    """Header-safe text: no CR/LF (header injection), no runs of whitespace."""
    return " ".join(text.split())


def _text_header(name: str, value: str) -> str:
    value = one_line(value)
    if value.isascii():
        return value
    # header_name lets the first encoded line share the "Subject: " line.
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode()


def _address_header(addr: Address) -> str:
    return formataddr((one_line(addr.name), addr.email), charset="utf-8")


def new_message_id(sender: Address) -> str:
    domain = sender.email.rpartition("@")[2] or "triaged.invalid"
    return make_msgid(idstring="triaged", domain=domain)


def _part(text: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, charset=_UTF8_QP)
    return part


def compose(letter: Letter, sender: Address, *, now: datetime, message_id: str) -> bytes:
    """The complete message as bytes, CRLF line ends, ready for SMTP DATA."""
    if letter.html:
        msg: MIMEMultipart | MIMENonMultipart = MIMEMultipart(
            "alternative", _subparts=[_part(letter.text, "plain"), _part(letter.html, "html")]
        )
    else:
        msg = _part(letter.text, "plain")
    msg["From"] = _address_header(sender)
    msg["To"] = _address_header(letter.to)
    msg["Subject"] = _text_header("Subject", letter.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if letter.in_reply_to:
        msg["In-Reply-To"] = one_line(letter.in_reply_to)
    references = [one_line(r) for r in letter.references if r]
    if len(references) > MAX_REFERENCES:
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
    if references:
        msg["References"] = " ".join(references)
    # RFC 3834: mark the letter as automatic, and ask Exchange-style responders
    # not to answer it, so that no two robots can talk to each other.
    msg["Auto-Submitted"] = letter.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Content-Language"] = letter.language
    for name, value in letter.extra_headers:
        msg[name] = _text_header(name, value)
    return msg.as_bytes(policy=_CRLF)
