"""Letter → RFC 5322 bytes: our Message-ID, threading headers, RFC 3834 marks."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from triaged.domain import Address, Letter

# Long References chains are trimmed to the first and the newest ids, as RFC 5322
# §3.6.4 allows, so that a long conversation never produces a huge header.
MAX_REFERENCES = 20


def one_line(text: str) -> str:
    """Header-safe text: no CR/LF (header injection), no runs of whitespace."""
    return " ".join(text.split())


def _header_address(addr: Address) -> HeaderAddress:
    local, _, domain = addr.email.rpartition("@")
    return HeaderAddress(display_name=one_line(addr.name), username=local, domain=domain)


def new_message_id(sender: Address) -> str:
    domain = sender.email.rpartition("@")[2] or "triaged.invalid"
    return make_msgid(idstring="triaged", domain=domain)


def compose(letter: Letter, sender: Address, *, now: datetime, message_id: str) -> bytes:
    """The complete message as bytes, CRLF line ends, ready for SMTP DATA."""
    msg = EmailMessage()
    msg["From"] = _header_address(sender)
    msg["To"] = _header_address(letter.to)
    msg["Subject"] = one_line(letter.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if letter.in_reply_to:
        msg["In-Reply-To"] = letter.in_reply_to
    references = [r for r in letter.references if r]
    if len(references) > MAX_REFERENCES:
        references = references[:1] + references[-(MAX_REFERENCES - 1) :]
    if references:
        msg["References"] = " ".join(references)
    # RFC 3834: mark the letter as automatic, and ask Exchange-style responders
    # not to answer it, so that no two robots can talk to each other.
    msg["Auto-Submitted"] = letter.auto_submitted
    msg["X-Auto-Response-Suppress"] = "All"
    for name, value in letter.extra_headers:
        msg[name] = one_line(value)
    msg.set_content(letter.text, charset="utf-8")
    if letter.html:
        msg.add_alternative(letter.html, subtype="html", charset="utf-8")
    # After the body: set_content() drops every Content-* header set before it.
    msg["Content-Language"] = letter.language
    return msg.as_bytes(policy=SMTP)
