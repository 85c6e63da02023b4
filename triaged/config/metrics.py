"""`[metrics]`: where the Prometheus endpoint listens, and when the service counts as stalled."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from triaged.config.reader import Table, positive_timedelta

# A poll that has not succeeded for this long is a stall even when the
# mailbox's poll_interval is short: long enough for a server restart and the
# daemon's back-off, short enough for an on-call person to care.
STALL_FLOOR = timedelta(minutes=5)
STALL_POLLS = 3
DEFAULT_SEND_STALL = "15 minutes"


@dataclass(frozen=True)
class MetricsConfig:
    """`host`/`port` of the /metrics and /health listener (host "" = off)."""

    host: str = ""
    port: int = 0
    allow_remote: bool = False
    # None: max(3 x the mailbox's poll_interval, 5 minutes), per mailbox.
    stall_after: timedelta | None = None
    send_stall_after: timedelta = timedelta(minutes=15)

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    def poll_stall(self, poll_interval: timedelta) -> timedelta:
        """How long a mailbox may go without a successful poll before it is a stall."""
        if self.stall_after is not None:
            return self.stall_after
        return max(STALL_POLLS * poll_interval, STALL_FLOOR)


def read_metrics(t: Table) -> MetricsConfig:
    """Build `[metrics]`, recording every problem under its key path."""
    listen = t.checked("listen", ("", 0), parse_listen)
    allow_remote = t.boolean("allow_remote", False)
    host, port = listen
    if host and not allow_remote and not is_loopback(host):
        t.problem("listen", f"{host} is not a loopback address; metrics and health would be "
                  "open to the network (set metrics.allow_remote = true if that is meant)")
    # "" (the default): max(3 x each mailbox's poll_interval, 5 minutes).
    stall_after = t.checked("stall_after", None, _optional_interval)
    config = MetricsConfig(
        host=host,
        port=port,
        allow_remote=allow_remote,
        stall_after=stall_after,
        send_stall_after=t.interval("send_stall_after", DEFAULT_SEND_STALL),
    )
    t.finish()
    return config


def parse_listen(text: str) -> tuple[str, int]:
    """ "127.0.0.1:9464", "[::1]:9464" or "localhost:9464" -> (host, port); "" -> off."""
    text = text.strip()
    if not text:
        return "", 0
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT such as '127.0.0.1:9464', got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            # A name would be resolved at each start, possibly to a public address.
            raise ValueError(f"expected an IP address or localhost, got {host!r}") from None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"expected a port between 1 and 65535, got {port_text!r}")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def _optional_interval(text: str) -> timedelta | None:
    return positive_timedelta(text) if text.strip() else None
