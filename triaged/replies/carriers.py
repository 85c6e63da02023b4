"""Where a reply token travels in our letters, and where it is found in a reply (pure).

A letter that expects an answer carries its token in three places, because
each mail client keeps a different one when someone presses Reply:

- the Reply-To plus-address `support+<token>@acme.example`: Gmail, Outlook
  (desktop, web, mobile), Apple Mail and Thunderbird all send the reply there,
  and the receiving server records it in To and usually in Delivered-To /
  X-Original-To;
- our Message-ID `<token.<random>.triaged@acme.example>`: every client that
  threads puts it in In-Reply-To and References;
- the subject, as `[#<token>]`: kept by every client behind its "Re:"/"AW:"
  and the one place left when a client drops the threading headers.

`find_tokens` returns the candidates in the order they are most likely to
name the letter actually answered: the address the reply was sent to, then
In-Reply-To, the subject, and last References (newest first).
"""

from __future__ import annotations

import re
import secrets

from triaged.domain.records import ParsedMail
from triaged.replies.tokens import TOKEN_PATTERN

SUBJECT_TAG = "[#{token}]"
_ADDRESS_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To",
                    "X-Delivered-To")
# The lookbehind starts a try only where a local part begins: a long header
# word without "+" is then read once, not again from each of its characters.
_PLUS = re.compile(rf"(?<![A-Za-z0-9._%-])([A-Za-z0-9._%-]+)\+({TOKEN_PATTERN})@([A-Za-z0-9.-]+)",
                   re.IGNORECASE)
_IN_ID = re.compile(rf"<?({TOKEN_PATTERN})\.[0-9a-f]+\.triaged@", re.IGNORECASE)
_IN_SUBJECT = re.compile(rf"\[#\s*({TOKEN_PATTERN})\s*\]", re.IGNORECASE)


def reply_address(mailbox_address: str, token: str) -> str:
    """`local+token@domain` of our mailbox address: where the reply should go."""
    local, _, domain = mailbox_address.rpartition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


def token_message_id(token: str, mailbox_address: str) -> str:
    """A Message-ID of ours (it has the `.triaged@` mark) that carries `token`."""
    domain = mailbox_address.rpartition("@")[2] or "triaged.invalid"
    return f"<{token}.{secrets.token_hex(6)}.triaged@{domain}>"


def subject_with_token(subject: str, token: str) -> str:
    return f"{subject} {SUBJECT_TAG.format(token=token)}"


def without_tokens(subject: str) -> str:
    """`subject` with its `[#token]` tags removed (for a subject we write back)."""
    return " ".join(_IN_SUBJECT.sub(" ", subject).split())


def _headers(mail: ParsedMail, name: str) -> list[str]:
    wanted = name.lower()
    return [value for key, value in mail.headers if key.lower() == wanted]


def find_tokens(mail: ParsedMail, own_addresses: frozenset[str]) -> list[str]:
    """Token texts the reply carries, most telling first, lower case, each once.

    A plus-address counts only on one of our own mailbox addresses (lower
    case in `own_addresses`), so a token pasted into some other address does
    not route mail to us.
    """
    found: list[str] = []

    def add(token: str) -> None:
        token = token.lower()
        if token not in found:
            found.append(token)

    addresses = [a.email for a in mail.to]
    for name in _ADDRESS_HEADERS:
        addresses.extend(_headers(mail, name))
    for text in addresses:
        for local, token, domain in _PLUS.findall(text):
            if f"{local}@{domain}".lower() in own_addresses:
                add(token)
    for token in _IN_ID.findall(" ".join(mail.in_reply_to)):
        add(token)
    for token in _IN_SUBJECT.findall(mail.subject):
        add(token)
    for message_id in reversed(mail.references):
        for token in _IN_ID.findall(message_id):
            add(token)
    return found
