"""Ports for the tests of servers that are not there."""

from __future__ import annotations

import socket


def dead_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
