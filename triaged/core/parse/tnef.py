"""Outlook's winmail.dat (TNEF): the body and attachment names locked inside it.

Outlook in "Rich Text" mode, and Exchange sending to a contact marked as
Outlook-capable, wrap the whole message (text, HTML or compressed RTF, and the
attachments) into one `application/ms-tnef` part. Most copies also carry a
plain-text part, but some carry nothing else: without this, such a complaint
would arrive with no words at all. tnefparse reads the
container, compressed_rtf unpacks RTF, striprtf turns it into text.

Pure: bytes in, text and attachment metadata out; any failure is a defect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tnefparse.mapi
import tnefparse.tnef
from striprtf import striprtf
from tnefparse import TNEF

from triaged.core.parse.html import html_to_text
from triaged.domain.records import Attachment

# striprtf ships no annotations; this is its signature.
_rtf_to_text: Callable[..., str] = striprtf.rtf_to_text

TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})

_decode_mapi = tnefparse.tnef.decode_mapi


def _bounded_decode_mapi(data: bytes, codepage: str = "cp1252",
                         starting_offset: int | None = None) -> object:
    """tnefparse's MAPI reader, with the property count it trusts cut to what the bytes
    can hold (at least 4 bytes a property). tnefparse loops over the declared count,
    logging each property it cannot find: a 20-byte attribute declaring 4 294 967 295
    properties kept one reading busy for hours."""
    offset = starting_offset or 0
    if len(data) - offset >= 4:
        declared = int.from_bytes(data[offset:offset + 4], "little")
        most = (len(data) - offset - 4) // 4
        if declared > most:
            data = data[:offset] + most.to_bytes(4, "little") + data[offset + 4:]
    return _decode_mapi(data, codepage, starting_offset)


_parse_property = tnefparse.mapi.parse_property


def _bounded_parse_property(data: bytes, offset: int, *rest: object) -> object:
    """tnefparse's reader of one MAPI value, refusing to read past the attribute's end.
    A multi-valued property declares its own count, and tnefparse reads that many
    values even when no bytes are left (an empty value each): 4 294 967 295 of them
    took 24 GB. Past the end, the attribute's remaining values are dropped."""
    if offset >= len(data):
        raise ValueError("MAPI value past the end of its attribute")
    return _parse_property(data, offset, *rest)


tnefparse.tnef.decode_mapi = _bounded_decode_mapi
tnefparse.mapi.parse_property = _bounded_parse_property


@dataclass(frozen=True)
class Unpacked:
    """What a winmail.dat holds: its best body as text, and its attachments."""

    text: str
    attachments: tuple[Attachment, ...]
    defect: str = ""


def unpack(data: bytes) -> Unpacked:
    """Read a TNEF container; never raises (a broken one is a defect, not a crash)."""
    try:
        container = TNEF(data, do_checksum=False)
        attachments = tuple(
            Attachment(filename=_name(item), content_type="application/octet-stream",
                       size=len(item.data or b""), data=bytes(item.data or b""))
            for item in container.attachments
        )
        text = _text(container).replace("\r\n", "\n").replace("\r", "\n")
        return Unpacked(text, attachments)
    except Exception as error:  # noqa: BLE001 - tnefparse has no error contract
        return Unpacked("", (), f"winmail.dat unreadable: {type(error).__name__}: {error}")


def _text(container: TNEF) -> str:
    """Plain body first (what the writer typed), then HTML, then RTF."""
    if container.body:
        return _decoded(container.body).strip()
    if container.htmlbody:
        return html_to_text(_decoded(container.htmlbody)).strip()
    rtf = container.rtfbody
    if rtf:
        # RTF is 7-bit with \'xx escapes; its \ansicpg decides what they mean.
        return _rtf_to_text(_decoded(rtf), errors="ignore").strip()
    return ""


def _decoded(value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    # tnefparse decodes with the message's code page when it knows it; left as
    # bytes, the body is most often the Windows code page of Western Outlook.
    return value.decode("cp1252", errors="replace")


def _name(item: object) -> str:
    long_name = getattr(item, "long_filename", None)
    name = long_name() if callable(long_name) else None
    return str(name or getattr(item, "name", "") or "")
