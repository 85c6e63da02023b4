"""A winmail.dat that declares more MAPI properties than its bytes can hold is read in
no time: tnefparse would otherwise loop over the declared count (up to 4 294 967 295)."""

from __future__ import annotations

import struct
import threading

from triaged.core.parse.tnef import Unpacked, unpack


def _attribute(level: int, name: int, data: bytes) -> bytes:
    checksum = struct.pack("<H", sum(data) & 0xFFFF)
    return struct.pack("<BII", level, name, len(data)) + data + checksum


def _declaring(count: int, values: bytes = b"") -> bytes:
    """A TNEF stream whose message MAPI properties attribute holds a count (and values)."""
    return (struct.pack("<IH", 0x223E9F78, 1)
            + _attribute(1, 0x00069003, struct.pack("<I", count) + values))


def _read_soon(data: bytes) -> Unpacked:
    found: list[Unpacked] = []
    reading = threading.Thread(target=lambda: found.append(unpack(data)), daemon=True)
    reading.start()
    # Unbounded, such a reading goes on for hours (or takes all memory); bounded, it
    # is over in a millisecond.
    reading.join(timeout=20)
    assert not reading.is_alive(), "the reading is still looping over a declared count"
    [unpacked] = found
    return unpacked


def test_a_huge_declared_property_count_is_read_at_once() -> None:
    assert _read_soon(_declaring(0xFFFFFFFF)).attachments == ()


def test_a_huge_declared_count_of_values_is_read_at_once() -> None:
    # One multi-valued short property (type 0x1002) declaring 4 294 967 295 values.
    values = struct.pack("<HHI", 0x1002, 0x0001, 0xFFFFFFFF)
    assert _read_soon(_declaring(1, values)).attachments == ()
