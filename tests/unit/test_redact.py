"""Reply tokens blanked from what is shown or exported, however the mail encoded them."""

from __future__ import annotations

import base64
import email
from datetime import UTC, datetime, timedelta
from email.policy import compat32

from triaged.core.letters.compose import compose
from triaged.domain.records import Address, Letter, LetterKind
from triaged.replies.redact import redact_mail, redact_row, redact_text, redact_value
from triaged.replies.tokens import make_token

TOKEN = make_token("k" * 40, purpose="approve", complaint_id=42, version=3,
                   recipient="dana@acme.example",
                   expires_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=14))


def _everything(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=compat32)
    texts = [raw.decode("latin-1")]
    for part in msg.walk():
        texts.extend(str(email.header.make_header(email.header.decode_header(str(v))))
                     for v in part.values())
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode("utf-8", "replace"))
    return "\n".join(texts)


def test_text_and_nested_values_lose_their_tokens() -> None:
    assert redact_text(f"support+{TOKEN}@acme.example") == "support+[token]@acme.example"
    assert redact_text(f"<{TOKEN.upper()}.ab12.triaged@acme.example>") == (
        "<[token].ab12.triaged@acme.example>")
    view = {"subject": f"Approval [#{TOKEN}]", "events": [{"detail": {"id": TOKEN}}], "n": 3}
    assert redact_value(view) == {"subject": "Approval [#[token]]",
                                  "events": [{"detail": {"id": "[token]"}}], "n": 3}


def test_a_letter_loses_its_tokens_in_encoded_words_and_soft_broken_lines() -> None:
    letter = Letter(
        kind=LetterKind.APPROVAL_REQUEST, to=Address("dana@acme.example", "Dana"),
        subject=f"Genehmigung nötig [#{TOKEN}] " + "ü" * 60,
        text="word " * 13 + f"support+{TOKEN}@acme.example " + "y" * 70 + TOKEN,
        html=f"<p>{TOKEN}</p>", language="de",
        extra_headers=(("Reply-To", f"support+{TOKEN}@acme.example"),))
    raw = compose(letter, Address("support@acme.example", "Acme"), now=datetime.now(UTC),
                  message_id=f"<{TOKEN}.ab12.triaged@acme.example>")
    assert TOKEN in _everything(raw)

    redacted = redact_mail(raw)

    assert TOKEN not in _everything(redacted)
    assert "[token]" in _everything(redacted)


def test_a_base64_body_loses_its_token_and_a_mail_without_one_is_unchanged() -> None:
    body = base64.encodebytes(f"quoted: {TOKEN} thanks ".encode() * 20).replace(b"\n", b"\r\n")
    raw = b"From: dana@acme.example\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body
    assert TOKEN not in _everything(redact_mail(raw))
    plain = b"From: maria@shop.example\r\nSubject: Cake\r\n\r\nIt was crushed.\r\n"
    assert redact_mail(plain) is plain


def test_an_unsent_letter_that_lost_its_token_is_exported_as_failed() -> None:
    row = {"state": "queued", "raw": f"Reply-To: s+{TOKEN}@a.example\r\n\r\nx".encode(),
           "last_error": ""}
    exported = redact_row("outbox_letter", row)
    assert exported["state"] == "failed"
    assert "tokens are not exported" in exported["last_error"]
    sent = redact_row("outbox_letter", {**row, "state": "sent"})
    assert sent["state"] == "sent"
    assert b"[token]" in sent["raw"]
