"""A winmail.dat that declares more MAPI properties than its bytes can hold is read in
no time: tnefparse would otherwise loop over the declared count (up to 4 294 967 295)."""

from __future__ import annotations

import struct
import threading

from triaged.core.parse.tnef import Unpacked, unpack


def _attribute(level: int, name: int, data: bytes) -> bytes:
    checksum = struct.pack("<H", sum(data) & 0xFFFF)
    return struct.pack("<BII", level, name, len(data)) + data + checksum


def _declaring(count: int) -> bytes:
    """A TNEF stream whose message MAPI properties attribute holds only a count."""
    return (struct.pack("<IH", 0x223E9F78, 1)
            + _attribute(1, 0x00069003, struct.pack("<I", count)))


def test_a_huge_declared_property_count_is_read_at_once() -> None:
    found: list[Unpacked] = []
    reading = threading.Thread(target=lambda: found.append(unpack(_declaring(0xFFFFFFFF))),
                               daemon=True)
    reading.start()
    # Unbounded, this reading goes on for hours; bounded, it is over in a millisecond.
    reading.join(timeout=20)
    assert not reading.is_alive(), "the reading is still looping over the declared count"
    [unpacked] = found
    assert unpacked.attachments == ()
