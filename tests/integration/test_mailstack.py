"""The test mail stack behaves like a real mail system: SMTP in, IMAP out."""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage

import pytest

from tests.mailstack import MailStack
from tests.support.fixture_types import NewAddress

pytestmark = pytest.mark.mailstack


def _letter(sender: str, to: str, subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@test>"
    msg.set_content(body)
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as on the wire


def _send(stack: MailStack, sender: str, rcpts: list[str], data: bytes) -> None:
    with smtplib.SMTP(stack.host, stack.smtp_port, timeout=10) as client:
        client.sendmail(sender, rcpts, data)


def _body(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize(
    "body",
    [
        "Plain complaint text.\n",
        "Ünïcödé, 日本語, ภาษาไทย, 한국어\n",
        ".a line starting with a dot\n..and two dots\n.\nend\n",
        "long line " * 200 + "\n",
    ],
    ids=["ascii", "utf8", "dots", "long-line"],
)
def test_sent_message_arrives_in_inbox_intact(
    mailstack: MailStack, new_address: NewAddress, support_address: str, body: str
) -> None:
    customer = new_address()
    data = _letter(customer, support_address, "Broken kettle", body)

    _send(mailstack, customer, [support_address], data)

    [stored] = mailstack.wait_for_messages(support_address, "INBOX", 1)
    assert _body(stored) == _body(data)
    parsed = email.message_from_bytes(stored)
    assert parsed["Subject"] == "Broken kettle"
    assert parsed["Delivered-To"] == support_address
    assert mailstack.smtp_received[-1].rcpt_tos == (support_address,)
    assert mailstack.smtp_received[-1].data == data


def test_each_recipient_gets_its_own_copy(mailstack: MailStack, new_address: NewAddress) -> None:
    first, second, sender = new_address(), new_address(), new_address()

    _send(mailstack, sender, [first, second], _letter(sender, first, "Two of us", "hi\n"))

    for rcpt in (first, second):
        [stored] = mailstack.wait_for_messages(rcpt, "INBOX", 1)
        assert email.message_from_bytes(stored)["Delivered-To"] == rcpt


def test_unknown_recipient_is_refused_permanently(
    mailstack: MailStack, new_address: NewAddress
) -> None:
    sender = new_address()

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(mailstack, sender, ["nobody-here@example.test"], b"Subject: x\r\n\r\nx\r\n")

    code, text = refused.value.recipients["nobody-here@example.test"]
    assert code == 550
    assert text.startswith(b"5.1.1")


def test_tempfail_gives_4xx_then_delivers(
    mailstack: MailStack, new_address: NewAddress, support_address: str
) -> None:
    sender = new_address()
    data = _letter(sender, support_address, "Try again", "patience\n")
    mailstack.smtp_tempfail(support_address, times=2)

    for _ in range(2):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            _send(mailstack, sender, [support_address], data)
        code, text = refused.value.recipients[support_address]
        assert (code, text) == (451, b"4.3.0 try again later")
    _send(mailstack, sender, [support_address], data)

    assert len(mailstack.wait_for_messages(support_address, "INBOX", 1)) == 1


def test_users_added_while_running_can_log_in_and_receive(
    mailstack: MailStack, new_address: NewAddress
) -> None:
    late = new_address("late", password="s3cret")

    _send(mailstack, late, [late], b"Subject: note to self\r\n\r\nhello\r\n")

    with mailstack.imap_client(late) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 1


def test_uidvalidity_and_uids_are_visible_and_ascending(
    mailstack: MailStack, support_address: str
) -> None:
    mailstack.append(support_address, "INBOX", [b"Subject: 1\r\n\r\na\r\n"] * 3)

    state = mailstack.folder_uids(support_address, "INBOX")

    assert state.uidvalidity > 0
    assert state.uids == [1, 2, 3]


def test_bulk_append_then_read_back_every_message(
    mailstack: MailStack, support_address: str
) -> None:
    sent = [f"Subject: bulk {n}\r\n\r\nmessage number {n}\r\n".encode() for n in range(300)]

    mailstack.append(support_address, "Archive/Old", sent)

    assert mailstack.messages(support_address, "Archive/Old") == sent
    assert mailstack.messages(support_address, "INBOX") == []


def test_smtp_auth_requires_a_mailbox_password() -> None:
    with MailStack(smtp_auth=True) as stack:
        user = stack.add_user("auth-user@example.test", "right")
        data = b"Subject: authed\r\n\r\nok\r\n"
        with smtplib.SMTP(stack.host, stack.smtp_port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:
                client.sendmail(user, [user], data)
            assert refused.value.smtp_code == 530
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login(user, "wrong")
            client.login(user, "right")
            client.sendmail(user, [user], data)

        assert stack.wait_for_smtp(1)[0].auth_login == user
        assert len(stack.wait_for_messages(user, "INBOX", 1)) == 1


def test_sink_mode_records_without_delivering() -> None:
    with MailStack(relay=False) as stack:
        user = stack.add_user("sink@example.test")
        _send(stack, "x@y.test", [user], b"Subject: sink\r\n\r\nok\r\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            _send(stack, "x@y.test", ["ghost@example.test"], b"Subject: x\r\n\r\nx\r\n")

        [envelope] = stack.wait_for_smtp(1)
        assert envelope.rcpt_tos == (user,)
        assert stack.messages(user) == []
