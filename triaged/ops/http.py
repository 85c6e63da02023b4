"""The operator's HTTP listener: `GET /metrics` (Prometheus) and `GET /health` (200/503).

prometheus-client renders /metrics (content negotiation, gzip, OpenMetrics);
/health is the verdict of `triaged health` as JSON. Requests are served on
threads of their own, so a slow scrape never holds up the daemon's jobs.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import CollectorRegistry

from triaged.ops.health import Health

log = logging.getLogger("triaged.metrics")

WsgiApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    """Scrapes every few seconds would flood the journal; errors still reach the log."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http: " + format, *args)


class OpsServer:
    """The listener on `host:port`; `start()` raises OSError when it cannot bind."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 health: Callable[[], Health]) -> None:
        self.host = host
        self.port = port
        self._metrics = make_wsgi_app(registry)
        self._health = health
        self._server: ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server_class = _server_class(self.host)
        self._server = make_server(self.host, self.port, self._app, server_class,
                                   handler_class=_QuietHandler)
        self.port = int(self._server.server_address[1])  # the real one when 0 was asked
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http",
                                        daemon=True)
        self._thread.start()
        log.info("metrics and health on http://%s:%d/metrics and /health",
                 f"[{self.host}]" if ":" in self.host else self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            body: Iterable[bytes] = self._metrics(environ, start_response)
            return body
        if path == "/health":
            return self._health_page(start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"triaged: see /metrics and /health\n"]

    def _health_page(self, start_response: StartResponse) -> Iterable[bytes]:
        verdict = self._health()
        status = "200 OK" if verdict.healthy else "503 Service Unavailable"
        body = json.dumps(verdict.as_json(), ensure_ascii=False, indent=2).encode() + b"\n"
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]


def _server_class(host: str) -> type[ThreadingWSGIServer]:
    """The server class for `host`'s address family (IPv6 needs AF_INET6)."""
    family = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family

    return Server
