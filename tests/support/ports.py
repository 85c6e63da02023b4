"""Loopback ports for the test servers, and for the tests of servers that are not there.

This module must not import pytest: the benchmarks in ``bench/`` use it too.
"""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports free right now (the OS picks; a race is unlikely)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """A loopback port free right now, for a server about to listen on it."""
    return free_ports(1)[0]


def dead_port() -> int:
    """A loopback port where nothing listens (bound, then released)."""
    return free_port()
