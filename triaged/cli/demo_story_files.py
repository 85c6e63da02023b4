"""The demo's photo: Maria's crushed cake, attached to her complaint, reaches staff.

The story shows the new-complaint notice in the team's mailbox carrying the same
file, byte for byte, that Maria attached.
"""

from __future__ import annotations

import base64
import email
import hashlib
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default as default_policy

from triaged.adapters.smtp import MaildirTransport
from triaged.app import App
from triaged.core.references import find_in_text

Say = Callable[[str], None]

PHOTO_NAME = "crushed-cake.jpg"
# A small JPEG drawn for the demo (96×64): a pink cake, one candle.
PHOTO = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZG"
    "NywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09P"
    "T09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCABAAGADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAA"
    "AAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAk"
    "M2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT"
    "lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QA"
    "HwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdh"
    "cRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hp"
    "anN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk"
    "5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD0aiiisywooooAKKKZMxWF2XghSRSbsrjQ+iorV2kt1dzljnJ/"
    "GpaUJKcVJdQas7BRRRVCCiiigAooooAKKr3d9bWez7RIU3524UnOPoPesi48TKF/0W0lZiDzJwAe3Azn9Kai2XGn"
    "KWyN+ort0jtZWkdUUKeWOBXI3Gu6pNkK3lKVwRGmPxyckH8azpnuJ2DTtLIwGAXJJx+NU6XMrM2jh3u2dtp15ayx"
    "LDHcRtICRtDDJ78evFXq842P/cb8qt2+oalbY8qeYALtCt8wA9geKUKHJFRT2Knh7u6Z3lFc3a+Jpc4u7QkZ+9Fn"
    "gfQ/41sWOp218dsJcPgsUdCCBnHXp+tDi0YSpyjui5RRRUmYUUUUAYXib/l2/wCB/wBKwq3fE3/Lt/wP+lYVbQ2O"
    "6j8CCiiiqNAooooAK1vDn/H/ACf9cj/MVk1reHP+P+T/AK5H+YpS2IqfAzpKKKKwOAKKKKAMLxN/y7f8D/pWFXby"
    "wQzY86JJMdNyg4qP7Faf8+sH/fsVanZWOiFZRjaxxlFdn9itP+fWD/v2KPsVp/z6wf8AfsVXOV9YXY4yiuz+xWn/"
    "AD6wf9+xR9itP+fWD/v2KOcPrC7HGVreHP8Aj/k/65H+Yrd+xWn/AD6wf9+xT47eCJt0UMaMRjKqAaTndClWUlax"
    "JRRRWZzH/9k="
)


def with_photo(data: bytes) -> bytes:
    """Maria's complaint with her photo attached, as her phone sends it."""
    msg = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    msg.add_attachment(PHOTO, maintype="image", subtype="jpeg", filename=PHOTO_NAME)
    return msg.as_bytes()


def show_photo(built: App, staff: str, say: Say) -> None:
    """Say which files the team's new-complaint notice carries, and whether Maria's photo
    arrived byte for byte."""
    transport = built.sender.transport
    assert isinstance(transport, MaildirTransport)
    box = transport.mailbox_of(staff) / "new"
    notices = [email.message_from_bytes(path.read_bytes(), policy=default_policy)
               for path in sorted(box.iterdir())] if box.exists() else []
    for notice in notices:
        files = {part.get_filename(): part.get_payload(decode=True)
                 for part in notice.walk() if part.get_filename()}
        if PHOTO_NAME not in files:
            continue
        data = files[PHOTO_NAME]
        same = isinstance(data, bytes) and hashlib.sha256(data).digest() == hashlib.sha256(
            PHOTO).digest()
        say("")
        say(f"   the new-complaint notice to {staff} ({box}):")
        say(f"   | Subject: {notice['Subject']}")
        for name, content in files.items():
            size = len(content) if isinstance(content, bytes) else 0
            say(f"   | attached: {name} ({size} bytes)")
        found = find_in_text(str(notice["Subject"]))
        reference = found[0] if found else "REF"
        say(f"   Maria's photo reached staff {'byte for byte' if same else 'CHANGED'}; "
            f"`triaged attachment {reference} 1` writes it out again.")
        return
    say("   (no notice with Maria's photo reached staff)")
